"""DeltaAdapter shapes, for the tiny preset and the real ESM3 -> Llama-3.1-8B preset (on the meta device)."""

import torch
from model_fixtures import llama3_esm3_adapter, tiny_adapter


def test_tiny_preset_maps_residues_to_media_vectors_and_starts_closed():
    adapter = tiny_adapter()
    wt, mut = torch.randn(2, 30, 64), torch.randn(2, 31, 64)
    out = adapter(
        wt_emb=wt,
        wt_mask=torch.ones(2, 30, dtype=torch.bool),
        mut_emb=mut,
        mut_mask=torch.ones(2, 31, dtype=torch.bool),
    )
    assert out.shape == (2, 8, 64)
    assert out.abs().max() == 0  # media gate closed: nothing reaches the LLM at step 0


def test_real_preset_shapes_esm3_1536_to_llama_4096():
    with torch.device("meta"):
        adapter = llama3_esm3_adapter()
        wt, mut = torch.empty(2, 300, 1536), torch.empty(2, 299, 1536)  # a deletion
        out = adapter(
            wt_emb=wt,
            wt_mask=torch.ones(2, 300, dtype=torch.bool),
            mut_emb=mut,
            mut_mask=torch.ones(2, 299, dtype=torch.bool),
        )
    assert out.shape == (2, 32, 4096)
    assert adapter.resampler.latents.shape == (32, 1536)
    n = sum(p.numel() for p in adapter.parameters())
    assert 150e6 < n < 250e6, n  # GCA ~15M + 6 resampler layers ~170M + projector ~23M
