"""Length-sorted micro-batches under a padded-token budget."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from m2t.encoders.base import micro_batches


def test_micro_batches_table():
    assert micro_batches([5, 100, 7, 30, 6, 31], 70) == [[0, 4, 2], [3, 5], [1]]  # 3×9, 2×33 tokens; 102 alone
    assert micro_batches([10, 10, 10], 36) == [[0, 1, 2]]  # 3 × 12 = 36 fits exactly
    assert micro_batches([10, 10, 10], 35) == [[0, 1], [2]]
    assert micro_batches([50], 16) == [[0]]  # over budget on its own: runs alone
    assert micro_batches([], 100) == []
    # the padding cap: 10 and 10 pad nothing; 20 would pad 2 × 10 of 3 × 22 tokens (30%)
    assert micro_batches([10, 10, 20], 1000) == [[0, 1, 2]]
    assert micro_batches([10, 10, 20], 1000, max_padding=0.3) == [[0, 1], [2]]
    assert micro_batches([10, 10, 20], 1000, max_padding=0.31) == [[0, 1, 2]]


@given(st.lists(st.integers(1, 300), max_size=40), st.integers(16, 2000), st.floats(0.01, 1.0))
def test_micro_batches_properties(lengths, budget, max_padding):
    batches = micro_batches(lengths, budget, max_padding)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every index exactly once
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)  # length-sorted, so padding stays small
    for b in batches:
        padded = len(b) * (max(lengths[i] for i in b) + 2)
        assert len(b) == 1 or padded <= budget
        assert sum(lengths[i] + 2 for i in b) >= (1 - max_padding) * padded  # padding within the cap
    for b, nxt in itertools.pairwise(batches):  # greedy: the next sequence did not fit, or would pad too much
        padded = (len(b) + 1) * (lengths[nxt[0]] + 2)
        assert padded > budget or sum(lengths[i] + 2 for i in [*b, nxt[0]]) < (1 - max_padding) * padded
