"""LoRA's dropout with a cheaper random mask on CPU.

PEFT puts an ``nn.Dropout`` before every LoRA ``A`` matrix. On CPU, ``F.dropout`` draws its mask one float at a time
from the serial generator (``bernoulli_``): on SmolLM2-135M with LoRA on the 7 linear layers of each block, that was a
fifth of a training step's time (py-spy, docs/performance.md), with one of the two cores idle. :class:`FastDropout`
draws 64 random bits a call and reads them as four 16-bit uniforms, one per element, and keeps an element when its
uniform is at or above ``p`` (``p`` rounded to a multiple of 1/65,536); kept elements are scaled by ``1 / (1 - p)`` as
in ``nn.Dropout``. The mask is saved for backward as a bool (1 byte an element where ``nn.Dropout`` keeps 4). It is
seeded by ``torch.manual_seed`` like any CPU draw. On other devices it is ``F.dropout`` (their kernels are fused).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = 2**16  # the mask's uniforms are 16-bit


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """``shape`` bools, each True with probability ``1 - round(p * 65536) / 65536``, independently."""
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)  # uniform 64-bit words
    uniform = words.view(torch.int16)[:n].view(shape)  # [-32768, 32767], uniform
    return uniform >= round(p * LEVELS) - LEVELS // 2


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask` on CPU (same ``p``, same scaling, same state dict: none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return F.dropout(x, self.p, self.training, self.inplace)
        return torch.where(keep_mask(x.shape, self.p), x * (1 / (1 - self.p)), 0.0)


def fast_lora_dropout(model: nn.Module) -> int:
    """Replace every LoRA dropout of ``model`` (PEFT's ``lora_dropout`` dicts) by :class:`FastDropout`; the count."""
    replaced = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, nn.ModuleDict):
            continue
        for name, layer in dropouts.items():
            if type(layer) is nn.Dropout:
                dropouts[name] = FastDropout(layer.p, inplace=layer.inplace)
                replaced += 1
    return replaced
