"""MutaDescribe-shaped inputs for the real-size benchmark, with the length profile baked in.

The GPU machine has no copy of ``../shared/data/mutadescribe``, so the profile of its four CSV files
(838 records accepted at <= 1,022 residues, 719 distinct wild types) is kept here as 32 quantiles each
of the wild-type lengths and of the reference descriptions' word counts; :func:`mutadescribe_profile`
recomputes it from the files (a test checks the two agree). :func:`profile_records` makes synthetic
records with exactly those lengths: wild type ``k`` has the ``k``-th length (cycled), one mutant, and
every sixth also a second one (1.17 mutants per wild type, as in the files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from m2t.data.readers import read_records
from m2t.data.records import Record
from m2t.data.synthetic import generate

POINTS = 32
WT_LENGTHS = (
    72,
    129,
    166,
    195,
    217,
    244,
    264,
    286,
    302,
    323,
    340,
    357,
    373,
    390,
    402,
    414,
    433,
    458,
    470,
    476,
    496,
    522,
    559,
    584,
    615,
    651,
    672,
    711,
    756,
    815,
    883,
    952,
)
DESCRIPTION_WORDS = (
    3,
    4,
    4,
    5,
    5,
    6,
    7,
    8,
    9,
    11,
    12,
    13,
    14,
    15,
    18,
    19,
    21,
    23,
    24,
    27,
    29,
    31,
    33,
    36,
    39,
    42,
    48,
    53,
    57,
    63,
    83,
    130,
)
SECOND_MUTANT_EVERY = 6  # 838 records / 719 wild types = 1.17 mutants per wild type


def quantiles(values: Sequence[int], points: int = POINTS) -> tuple[int, ...]:
    """The ``points`` mid-quantiles of ``values`` (the value at rank (2i+1)/2points of the sorted list)."""
    s = sorted(values)
    return tuple(s[min(len(s) - 1, (2 * i + 1) * len(s) // (2 * points))] for i in range(points))


def mutadescribe_profile(files: Sequence[Path], *, max_length: int = 1022) -> dict[str, tuple[int, ...]]:
    """``{"wt_lengths", "description_words"}`` quantiles of the accepted records of ``files``."""
    records = read_records(list(files), max_length=max_length, extended_alphabet=True).accepted
    return {
        "wt_lengths": quantiles([len(w) for w in {r.wild_type for r in records}]),
        "description_words": quantiles([len((r.description or "").split()) for r in records]),
    }


def profile_records(
    *, wild_types: int, length_scale: float = 1.0, max_words: int | None = None, seed: int = 0
) -> list[Record]:
    """Synthetic records with the baked MutaDescribe lengths (``length_scale`` shrinks them for dry runs)."""
    pool = " ".join(
        r.description
        for r in generate(n_proteins=40, mutants_per_protein=5, min_length=30, max_length=60, seed=seed)
        if r.description
    ).split()
    out: list[Record] = []
    for k in range(wild_types):
        length = max(8, round(WT_LENGTHS[k % POINTS] * length_scale))
        mutants = 2 if k % SECOND_MUTANT_EVERY == SECOND_MUTANT_EVERY - 1 else 1
        for j, r in enumerate(
            generate(
                n_proteins=1, mutants_per_protein=mutants, min_length=length, max_length=length, seed=seed * 100_003 + k
            )
        ):
            words = DESCRIPTION_WORDS[(7 * k + j) % POINTS]
            words = min(words, max_words) if max_words else words
            start = (k * 37 + j * 11) % max(1, len(pool) - words)
            out.append(replace(r, id=f"bench-{k}-{j}", description=" ".join(pool[start : start + words])))
    return out
