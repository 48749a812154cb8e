"""Score-only mode: the zero-shot effect score of every variant of a deep mutational scan, on Ray Data, no text.

    summary = score_dms(cfg, path="BLAT_ECOLX.csv", wild_type=None, output="outputs/score_variants")

Writes to the output directory:

    scores.csv      line, mutant, DMS_score, effect_score, effect_score_note (input order; the score's source is in
                    summary.json)
    rejects.jsonl   rows refused, with the reason
    summary.json    counts (total = scored + rejected), the wild type and where it came from, the score's source,
                    the Spearman correlation with DMS_score when the file has it, timings and residues/s

The variants (:mod:`m2t.infer.dms`) go in blocks of ``batch_score.score_rows`` to scorer actors
(``batch_score.num_actors`` × ``batch_score.cpus_per_actor``), each holding the encoder. A block's wild type runs once,
then all its variants together: with UniRep, each from the wild type's states at its first changed residue.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import ray

from m2t.atomic import atomic_write_text
from m2t.config import Config
from m2t.data.crop import CropError, encoder_window
from m2t.data.records import Reject, as_dict
from m2t.embed.identity import encoder_identity
from m2t.encoders import ProteinEncoder, build_encoder
from m2t.infer.dms import DmsScan, read_dms
from m2t.infer.effect import METHODS, Effect, EffectSource
from m2t.placement import scorer_pool


def score_variants(
    encoder: ProteinEncoder, wild_type: str, sequences: Sequence[str], mutations: Sequence[list[str]], *, policy: str
) -> list[Effect]:
    """The encoder's effect score of each variant ``sequences[i]`` (notation ``mutations[i]``) of ``wild_type``: one
    pass over each distinct wild-type window, then (UniRep) one batched pass over the variants from its states."""
    method = METHODS[encoder.effect_method]
    windows = [encoder_window(wild_type, s, max_residues=encoder.max_length, policy=policy) for s in sequences]
    distinct = list(dict.fromkeys(w.wild_type for w in windows))
    kept = {s: k for s, (_, k) in zip(distinct, method.wild_types(encoder, distinct, every=1), strict=True)}
    refs = [kept[w.wild_type] for w in windows]
    if method.mutant_pass:
        passes = [p for _, p in method.mutants(encoder, [w.mutant for w in windows], refs, embeddings=False)]
    else:
        passes = [None] * len(windows)
    return [method.effect(m, w, r, p) for m, w, r, p in zip(mutations, windows, refs, passes, strict=True)]


class VariantScorer:
    """Ray Data actor: builds the encoder once; ``__call__`` scores a block of variants of ``wild_type``.

    In: ``line``, ``mutant``, ``mutations`` (list of notation), ``sequence``, ``DMS_score``. Out: ``line``,
    ``mutant``, ``DMS_score``, ``effect_score``, ``effect_score_note``."""

    def __init__(self, *, cfg: Config, wild_type: str) -> None:
        self.encoder, self.wild_type, self.policy = build_encoder(cfg.encoder), wild_type, cfg.encoder.long_sequences

    def __call__(self, block: pa.Table) -> pa.Table:
        effects = score_variants(
            self.encoder,
            self.wild_type,
            block.column("sequence").to_pylist(),
            block.column("mutations").to_pylist(),
            policy=self.policy,
        )
        return pa.table(
            {
                **{name: block.column(name) for name in ("line", "mutant", "DMS_score")},
                "effect_score": pa.array([e.score for e in effects], pa.float64()),
                "effect_score_note": pa.array([e.note for e in effects], pa.string()),
            }
        )


def spearman(scores: pd.DataFrame) -> dict:
    """Spearman's rho of ``effect_score`` and ``DMS_score`` over the rows with both (average ranks for ties)."""
    both = scores[["effect_score", "DMS_score"]].dropna()
    rho = both["effect_score"].rank().corr(both["DMS_score"].rank()) if len(both) > 2 else None
    return {"rho": None if rho is None or pd.isna(rho) else round(float(rho), 4), "rows": len(both)}


def _fits(scan: DmsScan, *, max_residues: int, policy: str) -> DmsScan:
    """``scan`` less the variants the encoder cannot take (a change spanning more than its window), as rejects."""
    kept, rejects = [], list(scan.rejects)
    for v in scan.variants:
        try:
            encoder_window(scan.wild_type, v.sequence, max_residues=max_residues, policy=policy)
            kept.append(v)
        except CropError as exc:
            rejects.append(
                Reject(source=scan.source, line=v.line, raw=v.mutant, kind="too_long", reason=f"line {v.line}: {exc}")
            )
    return DmsScan(
        scan.source, scan.wild_type, scan.wild_type_from, kept, sorted(rejects, key=lambda r: r.line), scan.has_scores
    )


def _blocks(scan: DmsScan, rows: int) -> list[pa.Table]:
    table = pa.table(
        {
            "line": pa.array([v.line for v in scan.variants], pa.int64()),
            "mutant": pa.array([v.mutant for v in scan.variants], pa.string()),
            "mutations": pa.array([[str(m) for m in v.mutations] for v in scan.variants], pa.list_(pa.string())),
            "sequence": pa.array([v.sequence for v in scan.variants], pa.string()),
            "DMS_score": pa.array([v.dms_score for v in scan.variants], pa.float64()),
        }
    )
    return [table.slice(start, rows) for start in range(0, len(table), rows)]


def score_dms(cfg: Config, *, path: str | Path, wild_type: str | None, wild_type_from: str, output: str | Path) -> dict:
    """Score every accepted variant of the scan at ``path``; returns (and writes) the summary."""
    started, out = time.perf_counter(), Path(output)
    options = scorer_pool(cfg)
    identity = encoder_identity(cfg.encoder, num_gpus=options["num_gpus"], num_cpus=options["num_cpus"])
    source = EffectSource.of(identity)
    scan = read_dms(
        path,
        wild_type=wild_type,
        wild_type_from=wild_type_from,
        max_length=cfg.data.max_length,
        extended_alphabet=cfg.data.extended_alphabet,
    )
    scan = _fits(scan, max_residues=identity.max_length, policy=cfg.encoder.long_sequences)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "rejects.jsonl", "".join(json.dumps(as_dict(r)) + "\n" for r in scan.rejects))
    parts, scoring = [], time.perf_counter()
    if scan.variants:
        ds = ray.data.from_arrow(_blocks(scan, cfg.batch_score.score_rows))
        ds = ds.map_batches(VariantScorer, fn_constructor_kwargs={"cfg": cfg, "wild_type": scan.wild_type}, **options)
        parts = [b.to_pandas() for b in ds.iter_batches(batch_size=None, batch_format="pyarrow")]
    scoring = time.perf_counter() - scoring
    columns = ["line", "mutant", "DMS_score", "effect_score", "effect_score_note"]
    scores = pd.concat(parts).sort_values("line") if parts else pd.DataFrame(columns=columns)
    atomic_write_text(out / "scores.csv", scores[columns].to_csv(index=False))
    residues = sum(len(v.sequence) for v in scan.variants)
    summary = {
        "input": str(path),
        "total": len(scan.variants) + len(scan.rejects),
        "scored": len(scores),
        "rejected": len(scan.rejects),
        "by_reason": dict(Counter(r.kind for r in scan.rejects).most_common()),
        "wild_type": {"length": len(scan.wild_type), "from": scan.wild_type_from, "sequence": scan.wild_type},
        "effect_score": {**source.as_dict(), "null": int(scores["effect_score"].isna().sum())},
        "spearman": spearman(scores) if scan.has_scores else None,
        "actors": options["compute"].max_size,
        "seconds": round(time.perf_counter() - started, 2),
        "scoring_seconds": round(scoring, 2),
        "residues_per_s": round(residues / scoring, 1) if scoring > 0 and residues else None,
        "outputs": {name: str(out / name) for name in ("scores.csv", "rejects.jsonl", "summary.json")},
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
