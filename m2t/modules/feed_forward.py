"""Pre-norm GELU feed-forward block used inside the GCA and the resampler."""

from __future__ import annotations

import torch
from torch import nn


class FeedForward(nn.Module):
    """``LayerNorm -> Linear(d, mult * d) -> GELU -> Linear(mult * d, d)``."""

    def __init__(self, *, dim: int, mult: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, dim * mult, bias=False),
            nn.GELU(),
            nn.Linear(dim * mult, dim, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(b, n, d)`` -> ``(b, n, d)``."""
        return self.net(x)
