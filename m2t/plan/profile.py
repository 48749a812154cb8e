"""What the capacity planner needs to know of the data: counts and lengths, from records or from a stated profile.

From records (any file the readers take), everything is measured: the train split is the one ``jobs/split.py``
makes (same fractions and seed), LLM tokens are counted with the config's tokenizer when it can be built offline
(the tiny one, a local directory), else estimated from characters (:data:`CHARS_PER_TOKEN`). A stated profile
(``rows=166000,proteins=20000,residues=430,...``) is for data not at hand; its split is the fractions' share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from m2t.config import Config
from m2t.data.readers import read_records
from m2t.data.records import Record
from m2t.data.split import split_records

CHARS_PER_TOKEN = 4.0  # English text in a 128K-token BPE (Llama-3): about 4 characters a token
TEMPLATE_TOKENS = 40  # Llama-3.1's chat template: BOS, 3 role headers, the date lines it adds to the system turn
SPEC_KEYS = ("rows", "proteins", "residues", "max_residues", "desc_chars", "max_desc_chars")


@dataclass(frozen=True, kw_only=True)
class Profile:
    source: str
    rows: int  # records
    train_rows: int  # records in the train split
    distinct: int  # distinct sequences (wild types and mutants): the store's entries
    distinct_residues: int  # their residues, summed: the store's size
    residues_per_sample: float  # mean wild-type + mutant residues of a record: what a training sample reads
    max_residues: int  # longest sequence
    tokens: float  # mean LLM tokens of a training sample (prompt with its media slots + description)
    max_tokens: int
    tokens_counted: bool  # True: counted with the tokenizer; False: estimated from characters
    split_exact: bool  # True: the split made here; False: rows × the train fraction


def _tokenizer(cfg: Config):
    """The config's tokenizer when it can be built offline, else None."""
    if cfg.model.llm != "tiny" and not Path(cfg.model.llm).is_dir():
        return None
    from m2t.model.tokenizer import build_tokenizer

    return build_tokenizer(cfg.model)


def _estimated_tokens(cfg: Config, desc_chars: float) -> float:
    prompt = len(cfg.model.system_prompt) + len(cfg.model.instruction)
    return TEMPLATE_TOKENS + cfg.model.num_media_tokens + (prompt + desc_chars) / CHARS_PER_TOKEN + 1


def from_records(cfg: Config, paths: list[Path]) -> Profile:
    records: list[Record] = list(
        read_records(paths, max_length=cfg.data.max_length, extended_alphabet=cfg.data.extended_alphabet).accepted
    )
    if not records:
        raise ValueError(f"no valid records in {', '.join(map(str, paths))}")
    splits = split_records(
        records, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed
    )
    distinct = list(dict.fromkeys(s for r in records for s in (r.wild_type, r.mutant)))
    tokenizer = _tokenizer(cfg)
    if tokenizer is not None:
        from m2t.model.batching import make_example

        lengths = [len(make_example(tokenizer, cfg.model, r.description or "")["input_ids"]) for r in records]
    else:
        lengths = [math.ceil(_estimated_tokens(cfg, len(r.description or ""))) for r in records]
    return Profile(
        source=", ".join(str(p) for p in paths),
        rows=len(records),
        train_rows=len(splits["train"]),
        distinct=len(distinct),
        distinct_residues=sum(len(s) for s in distinct),
        residues_per_sample=sum(len(r.wild_type) + len(r.mutant) for r in records) / len(records),
        max_residues=max(len(s) for s in distinct),
        tokens=sum(lengths) / len(lengths),
        max_tokens=max(lengths),
        tokens_counted=tokenizer is not None,
        split_exact=True,
    )


def from_spec(cfg: Config, spec: str) -> Profile:
    """``rows=N,proteins=P,residues=mean,max_residues=M,desc_chars=mean,max_desc_chars=M``: each mutant a distinct
    sequence, each protein one wild type."""
    try:
        values = {k.strip(): float(v) for k, v in (item.split("=", 1) for item in spec.split(","))}
    except ValueError:
        raise ValueError(f"--data {spec!r}: expected a records file or {'=…,'.join(SPEC_KEYS)}=…") from None
    missing, unknown = set(SPEC_KEYS) - set(values), set(values) - set(SPEC_KEYS)
    if missing or unknown:
        raise ValueError(f"--data {spec!r}: missing {sorted(missing)}, unknown {sorted(unknown)}; give {SPEC_KEYS}")
    rows, distinct = int(values["rows"]), int(values["proteins"] + values["rows"])
    residues = values["residues"]
    return Profile(
        source=spec,
        rows=rows,
        train_rows=int(rows * (1 - cfg.data.val_fraction - cfg.data.test_fraction)),
        distinct=distinct,
        distinct_residues=int(distinct * residues),
        residues_per_sample=2 * residues,
        max_residues=int(values["max_residues"]),
        tokens=_estimated_tokens(cfg, values["desc_chars"]),
        max_tokens=math.ceil(_estimated_tokens(cfg, values["max_desc_chars"])),
        tokens_counted=False,
        split_exact=False,
    )


def data_profile(cfg: Config, data: list[str]) -> Profile:
    """A profile from ``--data``: record files, or one stated profile."""
    if len(data) == 1 and "=" in data[0] and not Path(data[0]).exists():
        return from_spec(cfg, data[0])
    return from_records(cfg, [Path(d) for d in data])
