"""Describe (wild type, mutant) pairs with a trained checkpoint: the generation shared by evaluate and batch scoring.

    describer = Describer(checkpoint="outputs/finetune/checkpoint", cfg=cfg)
    describer.describe([("MKTAYIAKQR", "MKTAYIAKHR")])     # ["... replaced by histidine ..."]

The checkpoint says which encoder it was trained on; ``cfg`` only says where and how it runs
(``encoder.device``, ``encoder.dtype``, ``encoder.token_budget``, ``encoder.max_padding``: see
:func:`m2t.encoders.with_runtime`) and how to decode (``generation``).
Embeddings are rounded through the store dtype the model was trained with, read from an
embedding store when it holds them, and each wild type goes through the encoder once (LRU).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from m2t.config import Config
from m2t.embed.actor import round_to
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder, with_runtime
from m2t.errors import M2TError
from m2t.infer.cache import EmbeddingLRU
from m2t.model import load_checkpoint, trained_config
from m2t.model.batching import pad_embeddings
from m2t.model.checkpoint import require_checkpoint, stage_checkpoint

log = logging.getLogger(__name__)


def finetuned_checkpoint(cfg: Config, path: str | Path | None = None) -> Path:
    """The checkpoint to describe with: ``path``, else ``<output.root>/finetune/checkpoint``; an
    :class:`InputError` naming the commands that make one when it is not there."""
    return require_checkpoint(
        path if path is not None else stage_checkpoint(cfg, "finetune"),
        fix="train one with `python jobs/pretrain.py && python jobs/finetune.py` (same --config), "
        "or pass --checkpoint DIR",
    )


def _open_store(path: str | Path | None, encoder_id: str) -> EmbeddingStore | None:
    if path is None or not EmbeddingStore.exists(path):
        return None
    try:
        store = EmbeddingStore.open(path)
    except M2TError as exc:
        log.warning("not using embedding store %s: %s", path, exc)
        return None
    if store.encoder_id != encoder_id:
        log.info(
            "embedding store %s holds %s, the checkpoint needs %s: encoding instead", path, store.encoder_id, encoder_id
        )
        return None
    return store


class Describer:
    """A checkpoint loaded for inference, its encoder, an optional store and a wild-type LRU.

    Counters (since construction): ``encoded_sequences`` (sequences run through the encoder), of
    which ``encoded_wild_types`` and ``encoded_mutants`` by :meth:`describe`; ``encoder_batches``
    (encoder calls, each batched internally); ``store_hits`` (sequences read from the store);
    ``encode_seconds`` and ``generate_seconds`` (time :meth:`describe` spent getting embeddings and generating).
    """

    def __init__(
        self, *, checkpoint: str | Path, cfg: Config, store: str | Path | None = None, wt_cache_size: int = 64
    ) -> None:
        checkpoint = finetuned_checkpoint(cfg, checkpoint)
        trained = trained_config(checkpoint)
        self.encoder = build_encoder(with_runtime(trained.encoder, cfg.encoder))
        self.model, self.trained = load_checkpoint(checkpoint, stage="infer", encoder_id=self.encoder.encoder_id)
        self.model.to(self.encoder.device)
        self.checkpoint, self.generation = checkpoint, cfg.generation
        self.store_dtype = trained.embed.dtype
        self.store = _open_store(store, self.encoder.encoder_id)
        self.wt_cache = EmbeddingLRU(capacity=wt_cache_size)
        self.encoded_sequences = self.encoded_wild_types = self.encoded_mutants = 0
        self.encoder_batches = self.store_hits = 0
        self.encode_seconds = self.generate_seconds = 0.0

    @property
    def max_length(self) -> int:
        """Longest sequence the encoder takes, in residues."""
        return self.encoder.max_length

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]:
        """``(L_i, D)`` float32 per sequence, as training saw them; store first, encoder for the rest."""
        sequences = list(sequences)
        found = {}
        if self.store is not None:
            present = [s for s in dict.fromkeys(sequences) if s in self.store]
            found = {s: torch.from_numpy(e) for s, e in zip(present, self.store.get_many(present), strict=True)}
            self.store_hits += len(found)
        missing = [s for s in dict.fromkeys(sequences) if s not in found]
        if missing:
            self.encoder_batches += 1
            self.encoded_sequences += len(missing)
            for s, emb in zip(missing, self.encoder.embed(missing), strict=True):
                found[s] = torch.from_numpy(round_to(emb, self.store_dtype))
        return [found[s] for s in sequences]

    @torch.inference_mode()
    def describe(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
    ) -> list[str]:
        """One description per ``(wild_type, mutant)`` pair, in order, in chunks of ``generation.batch_size``.

        Decoding defaults come from ``cfg.generation``. Wild types go through the LRU (encoded once while
        cached); each distinct mutant of a chunk is encoded once.
        """
        pairs = list(pairs)
        gen = self.generation
        out: list[str] = []
        for start in range(0, len(pairs), gen.batch_size):  # embeddings are held for one chunk at a time
            chunk = pairs[start : start + gen.batch_size]
            started, before = time.perf_counter(), self.encoded_sequences
            wt_emb = self.wt_cache.get_or_embed([wt for wt, _ in chunk], self.embed)
            self.encoded_wild_types += self.encoded_sequences - before
            before = self.encoded_sequences
            mut_emb = self.embed([mut for _, mut in chunk])
            self.encoded_mutants += self.encoded_sequences - before
            wt, wt_mask = pad_embeddings(wt_emb)  # (b, Lw, D), (b, Lw) True = residue
            mut, mut_mask = pad_embeddings(mut_emb)  # (b, Lm, D), (b, Lm) True = residue
            encoded = time.perf_counter()
            out.extend(
                self.model.generate(
                    wt_emb=wt,
                    wt_mask=wt_mask,
                    mut_emb=mut,
                    mut_mask=mut_mask,
                    max_new_tokens=max_new_tokens if max_new_tokens is not None else gen.max_new_tokens,
                    temperature=temperature if temperature is not None else gen.temperature,
                    top_p=top_p if top_p is not None else gen.top_p,
                )
            )
            self.encode_seconds += encoded - started
            self.generate_seconds += time.perf_counter() - encoded
        return out
