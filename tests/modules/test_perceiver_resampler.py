"""The resampler emits num_latents vectors whatever the padding, and handles an all-padding row."""

import torch

from m2t.modules.perceiver_resampler import PerceiverResampler


def _resampler() -> PerceiverResampler:
    torch.manual_seed(0)
    return PerceiverResampler(dim=16, num_latents=4, depth=2, heads=2, dim_head=8, ff_mult=2)


def test_padding_never_changes_outputs():
    res = _resampler()
    x = torch.randn(2, 6, 16)
    ref = res(x=x, mask=torch.ones(2, 6, dtype=torch.bool))
    padded = torch.cat([x, torch.randn(2, 9, 16) * 50], dim=1)
    mask = torch.zeros(2, 15, dtype=torch.bool)
    mask[:, :6] = True
    out = res(x=padded, mask=mask)
    assert out.shape == (2, 4, 16)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_outputs_depend_on_the_real_inputs():
    res = _resampler()
    mask = torch.ones(1, 6, dtype=torch.bool)
    a, b = res(x=torch.randn(1, 6, 16), mask=mask), res(x=torch.randn(1, 6, 16), mask=mask)
    assert (a - b).abs().max() > 1e-2


def test_all_padding_row_is_finite():
    out = _resampler()(x=torch.randn(1, 3, 16), mask=torch.zeros(1, 3, dtype=torch.bool))
    assert torch.isfinite(out).all()
