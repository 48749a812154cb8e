"""UniRep on a deep mutational scan's variants: the score-only mode's way against a one-sequence-at-a-time loop.

Ours is :func:`m2t.infer.dms_score.score_variants` without Ray: the wild type once, then all variants in length-sorted
micro-batches, each from the wild type's states at its first changed residue (prefix reuse). The baseline runs every
variant whole, alone, and the wild type once (what a plain loop over the sequences does). Both give the same scores
(``max_abs_diff``). The variants are every substitution at evenly spread positions of TEM-1 β-lactamase (286
residues), timed in rounds: a slice of the baseline, then ours whole, so load drift on a shared machine hits both.
Units: variant residues scored per second. Share of peak: the FLOPs of the steps each side computed.
"""

from __future__ import annotations

import time
from pathlib import Path

from m2t.bench.machine import machine_info
from m2t.bench.report import load_before, result
from m2t.bench.scales import Scale
from m2t.config import Config
from m2t.data.amino_acids import STANDARD
from m2t.encoders import build_encoder
from m2t.encoders.unirep import common_prefix
from m2t.infer.dms_score import score_variants

UNITS = "residues/s (variant residues scored, UniRep likelihood ratio)"
TEM1 = (
    "MSIQHFRVALIPFFAAFCLPVFAHPETLVKVKDAEDQLGARVGYIELDLNSGKILESFRPEERFPMMSTFKVLLCGAVLSRVDAGQEQLGRRIHYSQNDLVEYSP"
    "VTEKHLTDGMTVRELCSAAITMSDNTAANLLLTTIGGPKELTAFLHNMGDHVTRLDRWEPELNEAIPNDERDTTMPAAMATTLRKLLTGELLTLASRQQLIDWMEADKVA"
    "GPLLRSALPAGWFIADKSGAGERGSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW"
)
POSITIONS = {"tiny": 2, "small": 24, "medium": 48, "large": 96}  # scanned positions (19 variants each)
BASELINE_EVERY = 6  # the loop times every 6th variant (its rate per residue is what is compared)


def scan_variants(wild_type: str, positions: int) -> tuple[list[str], list[list[str]]]:
    """Every substitution at ``positions`` evenly spread positions: sequences and notation."""
    sites = [1 + round(i * (len(wild_type) - 1) / max(positions - 1, 1)) for i in range(positions)]
    seqs, names = [], []
    for pos in sites:
        here = wild_type[pos - 1]
        for aa in STANDARD:
            if aa != here:
                seqs.append(wild_type[: pos - 1] + aa + wild_type[pos:])
                names.append([f"{here}{pos}{aa}"])
    return seqs, names


def run_unirep(cfg: Config, scale: Scale, *, workdir: Path, records=None, rounds: int = 3) -> list[dict]:
    """The ``unirep`` result: the configured UniRep (UniRep-64 when the config names another backend)."""
    enc_cfg = (
        cfg.encoder
        if cfg.encoder.backend == "unirep"
        else cfg.encoder.model_copy(update={"backend": "unirep", "name": "64", "layer": None})
    )
    before = load_before()
    encoder = build_encoder(enc_cfg)
    wt, policy = TEM1, enc_cfg.long_sequences
    variants, mutations = scan_variants(wt, POSITIONS.get(scale.name, 24))
    sample = list(range(0, len(variants), BASELINE_EVERY))
    machine = {**machine_info(dtype=encoder.dtype, device=encoder.device), "loadavg_1m_before": before}
    score_variants(encoder, wt, variants[:8], mutations[:8], policy=policy)  # warm-up
    base_s, base_scores, ours_s, ours = 0.0, {}, [], []
    wt_ll = encoder.encode([wt], embeddings=False)[0].token_ll.double().sum()
    for k in range(rounds):
        started = time.perf_counter()
        for i in sample[k::rounds]:
            base_scores[i] = float(encoder.encode([variants[i]], embeddings=False)[0].token_ll.double().sum() - wt_ll)
        base_s += time.perf_counter() - started
        started = time.perf_counter()
        ours = score_variants(encoder, wt, variants, mutations, policy=policy)
        ours_s.append(time.perf_counter() - started)
    seconds = sum(ours_s) / rounds
    flop = 2.0 * encoder.model.matmul_weights()
    steps_ours = (
        len(wt) + 1 + sum(len(v) - common_prefix(v, wt) for v in variants)
    )  # the wild type, then from the change
    steps_base = sum(len(variants[i]) + 1 for i in sample)
    peak = machine["matmul_flops"]
    residues_ours, residues_base = sum(map(len, variants)), sum(len(variants[i]) for i in sample)
    ours_side = {
        "value": residues_ours / seconds,
        "seconds": round(seconds, 3),
        "variants": len(variants),
        "flops_per_s": flop * steps_ours / seconds,
        "share_of_peak": round(flop * steps_ours / seconds / peak, 4),
        "micro_batch_tokens": enc_cfg.token_budget,
        "how": "score_variants: the wild type once, the variants batched from its states (prefix reuse)",
    }
    base_side = {
        "value": residues_base / base_s,
        "seconds": round(base_s, 3),
        "variants": len(sample),
        "flops_per_s": flop * steps_base / base_s,
        "share_of_peak": round(flop * steps_base / base_s / peak, 4),
        "how": f"one variant at a time, whole (every {BASELINE_EVERY}th variant)",
    }
    diff = max(abs(ours[i].score - base_scores[i]) for i in sample)
    ratio = ours_side["value"] / base_side["value"]
    inputs = {
        "encoder": encoder.encoder_id,
        "wild_type": "TEM-1 beta-lactamase (P62593)",
        "length": len(wt),
        "variants": len(variants),
        "max_abs_diff": diff,
        "torch_threads": machine["torch_threads"],
    }
    return [
        result(
            benchmark="unirep",
            ours=ours_side,
            baseline=base_side,
            units=UNITS,
            inputs=inputs,
            machine=machine,
            target={"rule": ">= 5x the one-at-a-time loop, same scores", "met": bool(ratio >= 5 and diff < 1e-3)},
        )
    ]
