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
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from m2t.config import Config
from m2t.embed.actor import round_to
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder, with_runtime
from m2t.errors import InputError, M2TError
from m2t.model import load_checkpoint, trained_config
from m2t.serve.cache import EmbeddingLRU

log = logging.getLogger(__name__)


def default_checkpoint(cfg: Config) -> Path:
    """Where stage 2 of ``cfg`` leaves its final checkpoint: ``outputs/finetune/checkpoint``."""
    return cfg.stage_dir("finetune") / "checkpoint"


def check_checkpoint(path: str | Path) -> Path:
    """``path`` if it is an m2t checkpoint, else :class:`InputError` saying which command makes one."""
    path = Path(path)
    if not (path / "m2t_model.json").is_file():
        what = "does not exist" if not path.exists() else "is not an m2t checkpoint (no m2t_model.json)"
        raise InputError(f"checkpoint {path} {what}; train one with `python jobs/pretrain.py && python jobs/finetune.py` "
                         f"(same --config), or pass --checkpoint DIR")
    return path


def _open_store(path: str | Path | None, encoder_id: str) -> EmbeddingStore | None:
    if path is None or not (Path(path) / "manifest.json").is_file():
        return None
    try:
        store = EmbeddingStore.open(path)
    except M2TError as exc:
        log.warning("not using embedding store %s: %s", path, exc)
        return None
    if store.encoder_id != encoder_id:
        log.info("embedding store %s holds %s, the checkpoint needs %s: encoding instead", path, store.encoder_id, encoder_id)
        return None
    return store


def pad(embeddings: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(L_i, D)]`` -> zero-padded ``(b, L, D)`` and a ``(b, L)`` bool mask, True = residue."""
    lengths = torch.tensor([e.shape[0] for e in embeddings])
    padded = pad_sequence(list(embeddings), batch_first=True)  # (b, L, D)
    return padded, torch.arange(padded.shape[1])[None, :] < lengths[:, None]  # (b, L)


class Describer:
    """A checkpoint loaded for inference, its encoder, an optional store and a wild-type LRU.

    Counters (since construction): ``encoded_sequences`` (sequences run through the encoder), of
    which ``encoded_wild_types`` and ``encoded_mutants`` by :meth:`describe`; ``encoder_batches``
    (encoder calls, each batched internally); ``store_hits`` (sequences read from the store).
    """

    def __init__(self, *, checkpoint: str | Path, cfg: Config, store: str | Path | None = None,
                 wt_cache_size: int = 64) -> None:
        checkpoint = check_checkpoint(checkpoint)
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
    def describe(self, pairs: Sequence[tuple[str, str]], *, max_new_tokens: int | None = None,
                 temperature: float | None = None, top_p: float | None = None) -> list[str]:
        """One description per ``(wild_type, mutant)`` pair, in order, in chunks of ``generation.batch_size``.

        Decoding defaults come from ``cfg.generation``. Wild types go through the LRU (encoded once while
        cached); each distinct mutant of a chunk is encoded once.
        """
        pairs = list(pairs)
        gen = self.generation
        out: list[str] = []
        for start in range(0, len(pairs), gen.batch_size):  # embeddings are held for one chunk at a time
            chunk = pairs[start:start + gen.batch_size]
            before = self.encoded_sequences
            wt_emb = self.wt_cache.get_or_embed([wt for wt, _ in chunk], self.embed)
            self.encoded_wild_types += self.encoded_sequences - before
            before = self.encoded_sequences
            mut_emb = self.embed([mut for _, mut in chunk])
            self.encoded_mutants += self.encoded_sequences - before
            wt, wt_mask = pad(wt_emb)  # (b, Lw, D), (b, Lw) True = residue
            mut, mut_mask = pad(mut_emb)  # (b, Lm, D), (b, Lm) True = residue
            out.extend(self.model.generate(
                wt_emb=wt, wt_mask=wt_mask, mut_emb=mut, mut_mask=mut_mask,
                max_new_tokens=max_new_tokens if max_new_tokens is not None else gen.max_new_tokens,
                temperature=temperature if temperature is not None else gen.temperature,
                top_p=top_p if top_p is not None else gen.top_p))
        return out
