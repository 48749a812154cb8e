"""The tanh gate starts closed, passes no gradient to the gated branch at step 0, and opens under training."""

import torch

from m2t.modules.tanh_gate import TanhGate


def test_closed_at_init_and_only_the_gate_gets_gradient():
    gate, branch = TanhGate(), torch.nn.Linear(4, 4)
    x = torch.randn(3, 4)
    out = gate(branch(x))
    assert out.abs().max() == 0
    out.sum().backward()
    assert branch.weight.grad.abs().max() == 0
    assert gate.gate.grad.abs().item() > 0


def test_gain_scales_the_opening():
    gate = TanhGate(gain=10.0)
    with torch.no_grad():
        gate.gate.fill_(0.05)
    torch.testing.assert_close(gate(torch.ones(2)), torch.full((2,), float(torch.tanh(torch.tensor(0.5)))))
