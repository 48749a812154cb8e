"""Projectors map (b, n, d_in) to (b, n, d_out) with the documented layers."""

import pytest
import torch

from m2t.modules.projector import make_projector


@pytest.mark.parametrize(("kind", "n_linear"), [("mlp2x_gelu", 2), ("linear", 1)])
def test_shapes_and_layers(kind, n_linear):
    proj = make_projector(kind, dim_in=6, dim_out=10)
    assert proj(torch.randn(2, 3, 6)).shape == (2, 3, 10)
    assert sum(isinstance(m, torch.nn.Linear) for m in proj.modules()) == n_linear


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="mlp2x_gelu, linear"):
        make_projector("mlp3x", dim_in=4, dim_out=4)
