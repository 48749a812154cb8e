"""WordNet 3.0 for nltk's METEOR, offline: copied from Debian's packages into a project-local nltk_data.

NLTK's downloader cannot reach its server here. Debian's ``wordnet-base`` and
``wordnet-sense-index`` carry WordNet 3.0's database files under ``/usr/share/wordnet``; NLTK
reads them from ``<nltk_data>/corpora/wordnet/`` (copies: it refuses symlinks that leave its data
dir) once a ``lexnames`` file is added. Run once per environment (idempotent)::

    python -m m2t.infer.wordnet

``<nltk_data>`` is the first entry of ``$NLTK_DATA`` when set, else ``<venv>/nltk_data`` (``sys.prefix``),
a directory nltk searches by default.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from m2t.atomic import atomic_write, atomic_write_text
from m2t.errors import M2TError

DEBIAN_DIR = Path("/usr/share/wordnet")
PACKAGES = ("wordnet-base", "wordnet-sense-index")
INSTALL_CMD = "apt-get update && apt-get install -y " + " ".join(PACKAGES)
# The WordNet files nltk's WordNetCorpusReader opens (lexnames is written, not copied).
FILES = (
    tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb"))
    + tuple(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb"))
    + ("cntlist.rev", "index.sense")
)
# lexnames(5WN): file number = position, name; the third field (syntactic category) follows from the prefix.
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)
CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def nltk_data_dir() -> Path:
    """The nltk_data directory this project uses: ``$NLTK_DATA``'s first entry, else ``sys.prefix/nltk_data``."""
    env = os.environ.get("NLTK_DATA", "").split(os.pathsep)[0]
    return Path(env) if env else Path(sys.prefix) / "nltk_data"


def lexnames_text() -> str:
    """The 45 tab-separated rows of ``lexnames``: two-digit number, file name, syntactic category."""
    return "".join(f"{i:02d}\t{name}\t{CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


def _install_packages() -> None:
    """apt-get the Debian packages when we are root on a Debian-like system; else say the command."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise M2TError(
            f"WordNet files are missing from {DEBIAN_DIR} (needed by METEOR). Install them with\n"
            f"    sudo sh -c '{INSTALL_CMD}'\nthen run: python -m m2t.infer.wordnet"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise M2TError(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}): {done.stderr.strip()[-500:]}\n"
                f"install the WordNet files with `{INSTALL_CMD}`, then run: python -m m2t.infer.wordnet"
            )


def _up_to_date(target: Path) -> bool:
    if not (target / "lexnames").is_file() or (target / "lexnames").read_text() != lexnames_text():
        return False
    return all(
        (target / f).is_file() and (target / f).stat().st_size == (DEBIAN_DIR / f).stat().st_size
        for f in FILES
        if (DEBIAN_DIR / f).is_file()
    ) and all((target / f).is_file() for f in FILES)


def ensure_wordnet(root: Path | None = None) -> Path:
    """Make ``<root>/corpora/wordnet`` a complete WordNet 3.0 for nltk; returns that directory.

    Installs the Debian packages when their files are missing (as root with apt-get), copies each
    file atomically and writes ``lexnames``. Does nothing when everything is already in place.
    """
    root = Path(root) if root is not None else nltk_data_dir()
    target = root / "corpora" / "wordnet"
    if _up_to_date(target):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "corpora" / ".wordnet.lock")):
        if _up_to_date(target):
            return target
        if not all((DEBIAN_DIR / f).is_file() for f in FILES):
            _install_packages()
        missing = [f for f in FILES if not (DEBIAN_DIR / f).is_file()]
        if missing:
            raise M2TError(
                f"{DEBIAN_DIR} lacks {', '.join(missing)} after installing {', '.join(PACKAGES)}; "
                f"reinstall them with `{INSTALL_CMD}`"
            )
        for name in FILES:
            atomic_write(target / name, lambda tmp, name=name: shutil.copyfile(DEBIAN_DIR / name, tmp))
        atomic_write_text(target / "lexnames", lexnames_text())
    return target


def main() -> None:
    target = ensure_wordnet()
    import nltk
    from nltk.corpus import wordnet

    if str(target.parents[1]) not in nltk.data.path:
        nltk.data.path.insert(0, str(target.parents[1]))
    print(
        f"WordNet {wordnet.get_version()} ready for nltk at {target} "
        f"({len(wordnet.synsets('mutation'))} synsets of 'mutation')"
    )


if __name__ == "__main__":
    try:
        main()
    except M2TError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
