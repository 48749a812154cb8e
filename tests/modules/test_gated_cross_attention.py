"""GCA: padding never changes outputs, zero gates pass the mutant through, indels (unequal lengths) work."""

import torch

from m2t.modules.gated_cross_attention import GatedCrossAttention, residue_positions


def _open(gca: GatedCrossAttention) -> GatedCrossAttention:
    with torch.no_grad():
        gca.attn_gate.gate.fill_(0.07)
        gca.ff_gate.gate.fill_(-0.05)
    return gca


def _pad(x: torch.Tensor, extra: int) -> tuple[torch.Tensor, torch.Tensor]:
    padded = torch.cat([x, torch.randn(x.shape[0], extra, x.shape[2]) * 100], dim=1)  # junk in the padding
    mask = torch.zeros(padded.shape[:2], dtype=torch.bool)
    mask[:, : x.shape[1]] = True
    return padded, mask


def test_padding_never_changes_outputs():
    torch.manual_seed(0)
    gca = _open(GatedCrossAttention(dim=16, heads=2, dim_head=8, ff_mult=2))
    mut, wt = torch.randn(1, 7, 16), torch.randn(1, 9, 16)  # a 2-residue deletion: lengths differ
    ref = gca(mut=mut, mut_mask=torch.ones(1, 7, dtype=torch.bool), wt=wt, wt_mask=torch.ones(1, 9, dtype=torch.bool))
    (mut_p, mut_m), (wt_p, wt_m) = _pad(mut, 5), _pad(wt, 3)
    out = gca(mut=mut_p, mut_mask=mut_m, wt=wt_p, wt_mask=wt_m)
    torch.testing.assert_close(out[:, :7], ref, rtol=1e-5, atol=1e-5)
    assert out[:, 7:].abs().max() == 0  # padded query rows are zero


def test_batched_equals_one_by_one():
    torch.manual_seed(1)
    gca = _open(GatedCrossAttention(dim=16, heads=4, dim_head=4, ff_mult=2))
    lengths = [(5, 5), (8, 6), (3, 4)]
    items = [(torch.randn(lm, 16), torch.randn(lw, 16)) for lm, lw in lengths]
    mut = torch.nn.utils.rnn.pad_sequence([m for m, _ in items], batch_first=True)
    wt = torch.nn.utils.rnn.pad_sequence([w for _, w in items], batch_first=True)
    mut_mask = torch.arange(mut.shape[1])[None] < torch.tensor([lm for lm, _ in lengths])[:, None]
    wt_mask = torch.arange(wt.shape[1])[None] < torch.tensor([lw for _, lw in lengths])[:, None]
    batched = gca(mut=mut, mut_mask=mut_mask, wt=wt, wt_mask=wt_mask)
    for i, (m, w) in enumerate(items):
        one = gca(
            mut=m[None],
            mut_mask=torch.ones(1, len(m), dtype=torch.bool),
            wt=w[None],
            wt_mask=torch.ones(1, len(w), dtype=torch.bool),
        )
        torch.testing.assert_close(batched[i, : len(m)], one[0], rtol=1e-5, atol=1e-5)


def test_closed_gates_pass_the_mutant_through():
    gca = GatedCrossAttention(dim=8, heads=2, dim_head=4, ff_mult=2)
    mut, wt = torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    out = gca(mut=mut, mut_mask=torch.ones(2, 5, dtype=torch.bool), wt=wt, wt_mask=torch.ones(2, 6, dtype=torch.bool))
    torch.testing.assert_close(out, mut)


def test_identical_sequences_give_a_much_smaller_delta_than_a_substitution():
    """With the steep position head, an unchanged residue cancels against its wild-type twin at init."""
    torch.manual_seed(2)
    gca = GatedCrossAttention(dim=16, heads=1, dim_head=16, ff_mult=2)
    with torch.no_grad():
        gca.log_slope.fill_(torch.log(torch.tensor(20.0)))  # sharp alignment: residue i <-> residue i
        gca.attn_gate.gate.fill_(1.0)
    wt = torch.randn(1, 10, 16)
    mut = wt.clone()
    mut[0, 4] = torch.randn(16)  # a substitution at residue 5
    ones = torch.ones(1, 10, dtype=torch.bool)
    delta = (gca(mut=mut, mut_mask=ones, wt=wt, wt_mask=ones) - mut)[0].norm(dim=-1)  # ff gate is closed
    assert delta[4] > 0.5
    assert delta[torch.arange(10) != 4].max() < 1e-3


def test_residue_positions_count_real_residues_only():
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    assert residue_positions(mask)[:, :3].tolist() == [[0, 1, 2], [0, 0, 0]]


def test_every_parameter_learns_through_the_fused_attention():
    """The position bias goes into torch's fused attention as a mask: its slopes must still get gradients."""
    torch.manual_seed(0)
    gca = _open(GatedCrossAttention(dim=16, heads=2, dim_head=8, ff_mult=2))
    (mut, mut_m), (wt, wt_m) = _pad(torch.randn(2, 7, 16), 2), _pad(torch.randn(2, 9, 16), 3)
    gca(mut=mut, mut_mask=mut_m, wt=wt, wt_mask=wt_m).pow(2).sum().backward()
    for name, p in gca.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name
