"""The study's pieces without training: leak-free sets from the real MutaDescribe files, and the retrieval baseline."""

from __future__ import annotations

import numpy as np
import pytest

from m2t.config import load_config
from m2t.data.neighbours import NeighbourIndex
from m2t.data.records import Record
from m2t.infer.metrics import row_scores
from m2t.study.bootstrap import paired_intervals, resample_indices, resampled_metrics
from m2t.study.decoding import pick
from m2t.study.splits import Limits, capped, proteins, shared, study_sets


def test_every_test_protein_is_removed_from_the_training_side(mutadescribe_dir):
    files = [mutadescribe_dir / f"{n}.csv" for n in ("train_sample", "val_sample", "test_easy")]
    sets = study_sets(
        pool=files, tests=[mutadescribe_dir / "test_medium.csv"], val_fraction=0.1, seed=0, max_length=40_000
    )
    train_side = sets.train + sets.val
    assert sets.shared_proteins == shared(train_side, sets.tests["test_medium"]) == 0
    accessions, sequences = proteins(sets.tests["test_medium"])
    assert not any(r.protein_id in accessions or r.wild_type in sequences for r in train_side)
    assert sets.removed >= 4  # val_sample alone holds 4 of test_medium's proteins
    assert len(sets.tests["test_medium"]) == 384 and not set(proteins(sets.train)[0]) & proteins(sets.val)[0]
    # every pool row is accounted for: kept (train or val), removed, or refused on reading
    assert len(train_side) + sets.removed + len(sets.rejects) == 100 + 100 + 460


def _record(rid: str, wild_type: str, mutation: str, description: str, protein_id: str | None = None) -> Record:
    return Record(
        id=rid,
        wild_type=wild_type,
        mutant=wild_type,
        mutations=(mutation,),
        description=description,
        protein_id=protein_id,
        protein_name=None,
        function=None,
        source="t",
        line=1,
    )


P53 = "MEEPQSDPSVEPPLSQETFSDLWKLLPENNVLSPLPSQAMDDLMLSPDDIEQWFTEDPGPDEAPRMPEAAPPVAPAPAAPTPAAPAPAPSWPLSS"
OTHER = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMK"


def test_neighbours_take_the_nearest_protein_then_the_closest_change_else_the_commonest_answer(tmp_path):
    index = NeighbourIndex.of_records(
        [
            _record("a", P53, "E2A", "near the start", "P04637"),
            _record("b", P53, "P13L", "position thirteen", "P04637"),
            _record("c", OTHER, "K2R", "another protein"),
            _record("d", OTHER, "Q10H", "another protein"),
        ]
    )
    variant = P53[:40] + "W" + P53[41:]  # the same protein, one residue different: still the nearest
    assert index.describe(wild_type=variant, mutations=["S15F"]) == "position thirteen"
    assert index.describe(wild_type=variant, mutations=["E3K"]) == "near the start"
    assert index.describe(wild_type="W" * 60, mutations=["W2A"]) == "another protein"  # no shared 5-mer: commonest
    # never the query's own protein (its wild type, or its accession): a training row's neighbour is another's
    assert index.describe(wild_type=P53, mutations=["P13L"]) == "another protein"
    assert index.describe(wild_type=variant, mutations=["S15F"], protein_id="P04637") == "another protein"
    assert index.nearest_protein(OTHER) == (None, 0.0)  # itself left out, P53 shares no 5-mer with it
    assert index.nearest_protein(variant)[0] == 0 and 0.85 < index.nearest_protein(variant)[1] < 1  # 5 words differ
    loaded = NeighbourIndex.load(index.save(tmp_path / "neighbours.parquet"))
    assert loaded.rows == index.rows and loaded.describe(wild_type=variant, mutations=["S15F"]) == "position thirteen"


def test_study_test_rows_scores_a_seeded_sample_of_each_test_file_in_file_order(mutadescribe_dir):
    sets = study_sets(
        pool=[mutadescribe_dir / "train_sample.csv"],
        tests=[mutadescribe_dir / "test_medium.csv"],
        val_fraction=0.1,
        seed=0,
        max_length=40_000,
    )
    every = sets.tests["test_medium"]
    first = capped(sets, Limits(), sample=128, seed=0).tests["test_medium"]
    again = capped(sets, Limits(), sample=128, seed=0).tests["test_medium"]
    other = capped(sets, Limits(), sample=128, seed=1).tests["test_medium"]
    assert len(first) == 128 and [r.id for r in first] == [r.id for r in again] != [r.id for r in other]
    order = {r.id: i for i, r in enumerate(every)}
    assert [order[r.id] for r in first] == sorted(order[r.id] for r in first)  # a subset, in file order
    assert first[-1] != every[127]  # drawn across the file, not its first rows
    assert capped(sets, Limits(), sample=None).tests["test_medium"] == every
    assert capped(sets, Limits(), sample=10_000).tests["test_medium"] == every
    assert load_config(None, ["study.test_rows=128"]).study.test_rows == 128


def test_paired_bootstrap_against_a_hand_computed_case():
    """Two rows. Ours: row 0 exact ('a b' for 'a b'), row 1 wrong ('c d'); theirs: 'x y' on both rows, no match.
    Four resamples [0,0], [0,1], [1,1], [1,0]: our BLEU-2 is 1, 1/2 (p1 = 2/4, p2 = 1/2, no brevity penalty), 0
    (no unigram match), 1/2; theirs 0 everywhere; the same for ROUGE-1 (1, 1/2, 0, 1/2 as means of 1 and 0).
    Sorted differences 0, 0.5, 0.5, 1: numpy's linear percentiles put 2.5% at 0.0375 and 97.5% at 0.9625."""
    ours = row_scores(["a b", "c d"], ["a b", "a b"])
    theirs = row_scores(["x y", "x y"], ["a b", "a b"])
    indices = np.array([[0, 0], [0, 1], [1, 1], [1, 0]])
    got = paired_intervals(ours, theirs, indices=indices)
    for metric in ("bleu2", "rouge1", "rougeL"):
        assert got[metric]["diff"] == pytest.approx(0.5)
        assert (got[metric]["low"], got[metric]["high"]) == pytest.approx((0.0375, 0.9625))
        assert got[metric]["significant"]
    assert resampled_metrics(ours, indices)["bleu2"] == pytest.approx([1.0, 0.5, 0.0, 0.5])
    same = paired_intervals(ours, ours, indices=indices)
    assert all(v == {"diff": 0.0, "low": 0.0, "high": 0.0, "significant": False} for v in same.values())


def test_bootstrap_draws_are_seeded_and_an_unpaired_comparison_is_refused():
    first, again = resample_indices(50, resamples=1000, seed=3), resample_indices(50, resamples=1000, seed=3)
    assert first.shape == (1000, 50) and (first == again).all()
    assert not (first == resample_indices(50, resamples=1000, seed=4)).all()
    assert first.min() == 0 and first.max() == 49  # with replacement, from every row
    assert all(len(set(draw)) < 50 for draw in first[:10])
    rows = row_scores(["a b"] * 3, ["a b"] * 3)
    with pytest.raises(ValueError, match="paired rows differ in number: 3 and 2"):
        paired_intervals(rows, rows[:2], indices=resample_indices(3, resamples=10))


def test_decoding_is_chosen_among_answers_of_the_references_length():
    """The best ROUGE-L + METEOR wins only among candidates whose median val answer is 0.7-1.3x the references'
    words (the last study's score alone chose 16-word answers against 24); with none in the band, the best of all."""

    def tried(*candidates):
        return [{"metrics": {"rougeL": r, "meteor": m}, "median_words": w} for r, m, w in candidates]

    last_run = tried((0.1100, 0.0780, 17), (0.1279, 0.0972, 16), (0.1099, 0.1003, 28))  # its val: references 24
    assert pick(last_run, 24) == 2
    assert pick(tried((0.1, 0.1, 10), (0.2, 0.2, 60), (0.15, 0.1, 40)), 20) == 1  # none in the band: the best score
    assert pick(tried((0.1, 0.1, 14), (0.1, 0.15, 26), (0.1, 0.2, 27)), 20) == 1  # 14/20 and 26/20 are in, 27/20 not
