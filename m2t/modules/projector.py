"""Projector from the adapter's width into the LLM's embedding width (LLaVA's ``mlp2x_gelu`` or ``linear``)."""

from __future__ import annotations

from typing import Literal

from torch import nn

PROJECTORS = ("mlp2x_gelu", "linear")


def make_projector(kind: Literal["mlp2x_gelu", "linear"], *, dim_in: int, dim_out: int) -> nn.Module:
    """A module mapping ``(b, n, dim_in)`` -> ``(b, n, dim_out)``.

    ``mlp2x_gelu`` is ``Linear(dim_in, dim_out) -> GELU -> Linear(dim_out, dim_out)``;
    ``linear`` is a single ``Linear(dim_in, dim_out)``.
    """
    if kind == "mlp2x_gelu":
        return nn.Sequential(nn.Linear(dim_in, dim_out), nn.GELU(), nn.Linear(dim_out, dim_out))
    if kind == "linear":
        return nn.Linear(dim_in, dim_out)
    raise ValueError(f"unknown projector {kind!r}; choose one of {', '.join(PROJECTORS)}")
