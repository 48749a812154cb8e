"""The configs shipped in the package (``m2t/configs/``): what each one is, and copying one out to edit.

    m2t configs                              # lists them (name, kind, first line)
    m2t configs copy tiny my.yaml            # then: m2t pretrain --config my.yaml

A shipped config's relative paths resolve against the working directory (:func:`m2t.config.base_dir`), a copy's
against the copy's directory. So that a copy points where the original pointed from the directory it was copied in,
:func:`copy_config` rewrites each relative path value of an m2t config for the copy's directory (``outputs`` copied to
``exp/my.yaml`` becomes ``../outputs``); comments and layout stay as they are. A copy into the working directory is
byte for byte the original.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from m2t.config import is_path_key, shipped_config, shipped_configs
from m2t.errors import InputError
from m2t.storage import uri_scheme


def kind(path: Path) -> str:
    """``m2t``, ``ray-serve`` (a Serve config file whose app runs m2t) or ``deepspeed`` (a DeepSpeed JSON)."""
    if path.suffix == ".json":
        return "deepspeed"
    return "ray-serve" if "applications" in (yaml.safe_load(path.read_text()) or {}) else "m2t"


def summary(path: Path) -> str:
    """The first comment line of a YAML config (what it is), '' for a JSON one."""
    first = next((line for line in path.read_text().splitlines() if line.startswith("#")), "")
    return first.lstrip("# ").strip()


def listing() -> list[dict]:
    """One entry per shipped config: name, kind, path and summary."""
    return [
        {"name": name, "kind": kind(path), "path": str(path), "summary": summary(path)}
        for name, path in shipped_configs().items()
    ]


def _path_scalars(node: yaml.Node, keys: tuple[str, ...] = ()):
    """``(keys, scalar node)`` of every scalar under ``node`` (items of a list under their list's keys)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _path_scalars(value, (*keys, str(key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _path_scalars(item, keys)
    elif isinstance(node, yaml.ScalarNode):
        yield keys, node


def rebase(text: str, *, source_dir: Path, dest_dir: Path) -> str:
    """``text`` (an m2t config) with each relative path value rewritten from ``source_dir`` to ``dest_dir``."""
    edits = []
    for keys, node in _path_scalars(yaml.compose(text) or yaml.MappingNode("tag:yaml.org,2002:map", [])):
        value = node.value
        if not value or Path(value).is_absolute() or value.startswith("~") or uri_scheme(value) is not None:
            continue
        if not is_path_key(list(keys), value):
            continue
        new = os.path.relpath(source_dir / value, dest_dir)
        if keys == ("model", "llm") and not new.startswith("../"):
            new = f"./{new}"  # a leading '.' is what marks model.llm as a local directory, not a hub id
        if new != value:
            quoted = json.dumps(new) if node.style in ('"', "'") or not re.fullmatch(r"[\w./+-]+", new) else new
            edits.append((node.start_mark.index, node.end_mark.index, quoted))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def copy_config(name: str, dest: str | Path) -> Path:
    """Copy shipped config ``name`` (``tiny``, ``tiny.yaml``, ``zero2.json``) to ``dest`` (a file, or a directory to
    copy it into), its relative paths rebased for ``dest``'s directory; refuses to overwrite a file."""
    source = shipped_config(name)
    if source is None:
        names = ", ".join(shipped_configs())
        raise InputError(f"{name!r} is not a shipped config; the shipped ones are: {names} (`m2t configs`)")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / source.name
    if dest.exists():
        raise InputError(f"{dest} already exists; pass another DEST or remove it first")
    if not dest.parent.is_dir():
        raise InputError(f"the directory of {dest} does not exist")
    text = source.read_text()
    if kind(source) == "m2t":
        text = rebase(text, source_dir=Path.cwd(), dest_dir=dest.parent.resolve())
    try:
        dest.write_text(text)
    except OSError as exc:
        raise InputError(f"cannot write {dest}: {exc.strerror}") from None
    return dest.resolve()
