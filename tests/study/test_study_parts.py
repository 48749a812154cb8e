"""The study's pieces without training: leak-free sets from the real MutaDescribe files, and the retrieval baseline."""

from __future__ import annotations

from m2t.config import load_config
from m2t.data.records import Record
from m2t.study.retrieval import Retrieval
from m2t.study.run import Limits, capped
from m2t.study.splits import proteins, shared, study_sets


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


def _record(rid: str, wild_type: str, mutation: str, description: str) -> Record:
    return Record(
        id=rid,
        wild_type=wild_type,
        mutant=wild_type,
        mutations=(mutation,),
        description=description,
        protein_id=None,
        protein_name=None,
        function=None,
        source="t",
        line=1,
    )


def test_retrieval_takes_the_nearest_protein_then_the_closest_change_else_the_commonest_answer():
    p53 = "MEEPQSDPSVEPPLSQETFSDLWKLLPENNVLSPLPSQAMDDLMLSPDDIEQWFTEDPGPDEAPRMPEAAPPVAPAPAAPTPAAPAPAPSWPLSS"
    other = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMK"
    train = [
        _record("a", p53, "E2A", "near the start"),
        _record("b", p53, "P13L", "position thirteen"),
        _record("c", other, "K2R", "another protein"),
        _record("d", other, "Q10H", "another protein"),
    ]
    retrieval = Retrieval(train)
    variant = p53[:40] + "W" + p53[41:]  # the same protein, one residue different: still the nearest
    assert retrieval.predict(_record("t1", variant, "S15F", "?")) == "position thirteen"
    assert retrieval.predict(_record("t2", variant, "E3K", "?")) == "near the start"
    assert retrieval.predict(_record("t3", "W" * 60, "W2A", "?")) == "another protein"  # no shared 5-mer: commonest


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
