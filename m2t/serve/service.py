"""The work of one replica, without Ray or HTTP: load a checkpoint, check items, describe a batch.

:meth:`DescribeService.describe` takes the items ``@serve.batch`` gathered, embeds each distinct
wild type once (through the LRU cache) and each mutant, and runs one batched ``generate`` per
distinct decoding setting (items asking for the same ``max_new_tokens``/``temperature``/``top_p``
share a call; the defaults make that the usual case).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from m2t.config import Config
from m2t.encoders import build_encoder
from m2t.model import load_checkpoint, read_meta
from m2t.serve.cache import EmbeddingLRU
from m2t.serve.prepare import Decoding, Job, Limits, prepare
from m2t.serve.schemas import CacheStats, DescribeRequest, DescribeResponse, ModelInfo, Stats, Timings
from m2t.serve.schemas import Limits as LimitsInfo


def pad(embeddings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``L_i x d`` tensors -> ``(b, L_max, d)`` zero-padded and a ``(b, L_max)`` bool mask, True = residue."""
    lengths = torch.tensor([e.shape[0] for e in embeddings])
    padded = pad_sequence(embeddings, batch_first=True)  # (b, L_max, d)
    mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]  # (b, L_max)
    return padded, mask


class DescribeService:
    """Model + encoder + wild-type cache of one replica, with the request checks and batching counters."""

    def __init__(self, *, cfg: Config, checkpoint: Path) -> None:
        trained = Config.model_validate(read_meta(checkpoint)["config"])
        # The checkpoint says which encoder it was trained on; only where and how it runs comes from cfg.
        self.encoder = build_encoder(trained.encoder.model_copy(update={
            "device": cfg.encoder.device, "dtype": cfg.encoder.dtype, "token_budget": cfg.encoder.token_budget}))
        self.model, trained = load_checkpoint(checkpoint, stage="infer", encoder_id=self.encoder.encoder_id)
        self.model.to(self.encoder.device)
        self.checkpoint, self.base_llm = checkpoint, trained.model.llm
        self.num_media_tokens = trained.model.num_media_tokens
        self.name = f"m2t:{Path(trained.model.llm).name}+{self.encoder.encoder_id}"
        self.limits = Limits(max_length=min(cfg.data.max_length, self.encoder.max_length),
                             extended_alphabet=cfg.data.extended_alphabet, max_new_tokens_limit=cfg.serve.max_new_tokens_limit)
        gen = cfg.generation
        self.defaults = Decoding(max_new_tokens=min(gen.max_new_tokens, cfg.serve.max_new_tokens_limit),
                                 temperature=gen.temperature, top_p=gen.top_p)
        self.serve_cfg = cfg.serve
        self.wt_cache = EmbeddingLRU(capacity=cfg.serve.wt_cache_size)
        self.batch_sizes: Counter[int] = Counter()

    def prepare(self, request: DescribeRequest, *, loc: tuple[str | int, ...]) -> Job:
        return prepare(request, loc=loc, limits=self.limits, defaults=self.defaults)

    @torch.inference_mode()
    def describe(self, jobs: list[Job]) -> list[DescribeResponse]:
        """Describe a batch of checked items; answers in the order of ``jobs``."""
        started = time.perf_counter()
        wt_emb = self.wt_cache.get_or_embed([j.wild_type for j in jobs], self.encoder.embed)
        mutants = list(dict.fromkeys(j.mutant for j in jobs))
        by_seq = dict(zip(mutants, self.encoder.embed(mutants), strict=True))
        mut_emb = [by_seq[j.mutant] for j in jobs]
        encoded = time.perf_counter()
        groups: dict[Decoding, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.decoding, []).append(i)
        texts: list[str] = [""] * len(jobs)
        sizes: list[int] = [0] * len(jobs)
        for decoding, idx in groups.items():
            wt, wt_mask = pad([wt_emb[i] for i in idx])
            mut, mut_mask = pad([mut_emb[i] for i in idx])
            out = self.model.generate(wt_emb=wt, wt_mask=wt_mask, mut_emb=mut, mut_mask=mut_mask,
                                      max_new_tokens=decoding.max_new_tokens, temperature=decoding.temperature,
                                      top_p=decoding.top_p)
            self.batch_sizes[len(idx)] += 1
            for i, text in zip(idx, out, strict=True):
                texts[i], sizes[i] = text.strip(), len(idx)
        done = time.perf_counter()
        ms = 1000.0
        return [DescribeResponse(
            id=job.id, description=texts[i], mutations=list(job.mutations), model=self.name,
            timings=Timings(queue_ms=(started - job.arrived) * ms, encode_ms=(encoded - started) * ms,
                            generate_ms=(done - encoded) * ms, total_ms=(done - job.arrived) * ms, batch_size=sizes[i]),
        ) for i, job in enumerate(jobs)]

    def info(self) -> ModelInfo:
        s = self.serve_cfg
        return ModelInfo(
            model=self.name, base_llm=self.base_llm, encoder_id=self.encoder.encoder_id, checkpoint=str(self.checkpoint),
            num_media_tokens=self.num_media_tokens, device=str(self.encoder.device),
            limits=LimitsInfo(max_length=self.limits.max_length, extended_alphabet=self.limits.extended_alphabet,
                              max_new_tokens_limit=s.max_new_tokens_limit, max_batch_items=s.max_batch_items,
                              max_body_bytes=s.max_body_bytes, max_batch_size=s.max_batch_size,
                              batch_wait_timeout_s=s.batch_wait_timeout_s),
            stats=Stats(items=sum(k * v for k, v in self.batch_sizes.items()), batches=sum(self.batch_sizes.values()),
                        batch_sizes=dict(sorted(self.batch_sizes.items())), max_batch_size_seen=max(self.batch_sizes, default=0),
                        wt_cache=CacheStats(size=len(self.wt_cache), capacity=self.wt_cache.capacity,
                                            hits=self.wt_cache.hits, misses=self.wt_cache.misses)),
        )

    def check_health(self) -> None:
        """Raise when the device the model runs on is gone (Serve then replaces the replica)."""
        device = self.encoder.device
        if device.type == "cuda":
            torch.ones(1, device=device).add_(1).item()
