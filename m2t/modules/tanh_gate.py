"""A learned scalar gate ``tanh(gain * g)``, initialised closed (g = 0), as in Flamingo."""

from __future__ import annotations

import torch
from torch import nn


class TanhGate(nn.Module):
    """Multiply the input by ``tanh(gain * g)``; ``g`` starts at 0, so the gated branch starts switched off.

    ``gain`` speeds the gate up without a separate learning-rate group: Adam moves ``g`` by about
    the learning rate per step whatever its gradient's scale, so ``gain=10`` lets a useful branch open
    ten times sooner. With ``gain=1`` a closed gate in front of a branch that is itself still random
    keeps the whole adapter on a long plateau (measured in ``test_adapter_carries_mutation``).
    """

    def __init__(self, *, gain: float = 10.0) -> None:
        super().__init__()
        self.gain = gain
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of any shape ``(..., d)`` -> same shape, scaled by ``tanh(gain * g)``."""
        return x * (self.gain * self.gate).tanh().to(x.dtype)
