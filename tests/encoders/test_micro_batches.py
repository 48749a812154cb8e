"""Length-sorted micro-batches under a padded-token budget."""

from hypothesis import given
from hypothesis import strategies as st

from m2t.encoders.base import micro_batches


def test_micro_batches_table():
    assert micro_batches([5, 100, 7, 30, 6, 31], 70) == [[0, 4, 2], [3, 5], [1]]  # 3×9, 2×33 tokens; 102 alone
    assert micro_batches([10, 10, 10], 36) == [[0, 1, 2]]  # 3 × 12 = 36 fits exactly
    assert micro_batches([10, 10, 10], 35) == [[0, 1], [2]]
    assert micro_batches([50], 16) == [[0]]  # over budget on its own: runs alone
    assert micro_batches([], 100) == []


@given(st.lists(st.integers(1, 300), max_size=40), st.integers(16, 2000))
def test_micro_batches_properties(lengths, budget):
    batches = micro_batches(lengths, budget)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every index exactly once
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)  # length-sorted, so padding stays small
    for b in batches:
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 2) <= budget
    for b, nxt in zip(batches, batches[1:]):  # greedy: the next sequence did not fit
        assert (len(b) + 1) * (lengths[nxt[0]] + 2) > budget
