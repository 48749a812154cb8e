"""masked_attention ignores padded keys, never returns NaN, and zeroes rows with nothing to attend to."""

import torch

from m2t.modules.attention import masked_attention, merge_heads, split_heads


def test_padded_keys_are_ignored_exactly():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    mask = torch.tensor([[True, True, True, False, False]])
    k_junk, v_junk = k.clone(), v.clone()
    k_junk[..., 3:, :], v_junk[..., 3:, :] = 1e4, -1e4  # padding content must not matter
    out = masked_attention(q, k_junk, v_junk, key_mask=mask)
    ref = masked_attention(q, k[..., :3, :], v[..., :3, :], key_mask=mask[:, :3])
    torch.testing.assert_close(out, ref)


def test_row_without_keys_is_zero_not_nan():
    q, k, v = torch.randn(2, 1, 4, 8), torch.randn(2, 1, 3, 8), torch.randn(2, 1, 3, 8)
    mask = torch.tensor([[False, False, False], [True, False, False]])
    out = masked_attention(q, k, v, key_mask=mask)
    assert torch.isfinite(out).all()
    assert out[0].abs().max() == 0
    torch.testing.assert_close(out[1], v[1, :, :1, :].expand(1, 4, 8))  # one key: weight 1


def test_bias_shifts_attention_and_fp16_is_finite():
    q = torch.zeros(1, 1, 1, 4)
    k, v = torch.zeros(1, 1, 2, 4), torch.tensor([[[[1.0] * 4, [3.0] * 4]]])
    bias = torch.tensor([0.0, -1e9])  # all weight on key 0
    out = masked_attention(q, k, v, key_mask=torch.ones(1, 2, dtype=torch.bool), bias=bias)
    torch.testing.assert_close(out, torch.ones(1, 1, 1, 4))
    half = masked_attention(q.half(), k.half(), v.half(), key_mask=torch.tensor([[False, True]]))
    assert torch.isfinite(half).all() and half.float().mean().item() == 3.0


def test_split_merge_heads_roundtrip():
    x = torch.randn(2, 5, 12)
    assert split_heads(x, 3).shape == (2, 3, 5, 4)
    torch.testing.assert_close(merge_heads(split_heads(x, 3)), x)


def test_matches_the_explicit_softmax_with_bias_and_padding():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    bias = torch.randn(2, 3, 4, 6)
    scores = (q @ k.transpose(-1, -2)) / 8**0.5 + bias  # (b, h, n, m)
    weights = scores.masked_fill(~mask[:, None, None, :], float("-inf")).softmax(-1)
    torch.testing.assert_close(masked_attention(q, k, v, key_mask=mask, bias=bias), weights @ v, atol=1e-5, rtol=1e-5)
