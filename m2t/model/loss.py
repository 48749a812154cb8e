"""The language-model loss of a training batch, computed on the supervised (answer) tokens only.

transformers' causal-LM forward projects every position onto the vocabulary before its loss drops the unsupervised
ones: with SmolLM2's 49k-token head that is a fifth of a step's FLOPs, and a ``(b, t, vocab)`` fp32 tensor (and its
copies and gradient) for tokens whose logits nobody reads: the prompt and the padding. Here only the positions that
predict an answer token go through the head; the loss is the same mean cross-entropy over those tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m2t.model.batching import IGNORE


def answer_loss(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the supervised tokens.

    Args:
        head: the LM head (``llm.get_output_embeddings()``), ``d_llm -> vocab``.
        hidden: ``(b, t, d_llm)`` the decoder's last hidden states.
        labels: ``(b, t)`` token ids, -100 where not supervised (prompt, padding).

    Returns:
        A scalar: the mean over every ``(i, j)`` with ``labels[i, j + 1] != -100`` of the cross-entropy of
        ``head(hidden[i, j])`` against ``labels[i, j + 1]`` (NaN when nothing is supervised, as in transformers).
    """
    targets = labels[:, 1:]  # (b, t-1): position j predicts token j + 1
    keep = targets != IGNORE  # (b, t-1) True = supervised
    logits = head(hidden[:, :-1][keep])  # (n, vocab)
    return F.cross_entropy(logits.float(), targets[keep])
