"""The work of one replica, without Ray or HTTP: describe a batch of checked items, report limits and counters.

Descriptions come from the one describe path, :meth:`m2t.infer.describer.Describer.describe`, so the
server writes what ``evaluate`` and ``batch_score`` write for the same pair. :meth:`DescribeService.describe`
takes the items ``@serve.batch`` gathered and groups them by decoding setting (items asking for the same
``max_new_tokens``/``temperature``/``top_p`` share a call; the defaults make that the usual case); the
describer's wild-type cache makes each wild type cost one encoder pass while cached.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import torch

from m2t.config import Config
from m2t.infer.describer import Describer, Query
from m2t.infer.effect import Effect
from m2t.model.prompt import facts_of
from m2t.serve.prepare import Decoding, Job, Limits
from m2t.serve.schemas import (
    CacheStats,
    DescribeResponse,
    EffectScoreInfo,
    ModelInfo,
    Stats,
    Timings,
)
from m2t.serve.schemas import Limits as LimitsInfo


class DescribeService:
    """A :class:`Describer` (model + encoder + wild-type LRU), the limits requests are checked against, and
    batching counters."""

    def __init__(self, *, cfg: Config, checkpoint: Path) -> None:
        # a whole @serve.batch group generates in one call
        gen = cfg.generation.model_copy(update={"batch_size": max(cfg.generation.batch_size, cfg.serve.max_batch_size)})
        self.describer = Describer(
            checkpoint=checkpoint, cfg=cfg.model_copy(update={"generation": gen}), wt_cache_size=cfg.serve.wt_cache_size
        )
        trained, encoder = self.describer.trained, self.describer.encoder
        self.checkpoint, self.base_llm = checkpoint, trained.model.llm
        self.num_media_tokens = trained.model.num_media_tokens
        self.name = f"m2t:{Path(trained.model.llm).name}+{encoder.encoder_id}"
        self.limits = Limits(
            max_length=cfg.data.max_length,
            extended_alphabet=cfg.data.extended_alphabet,
            max_new_tokens_limit=cfg.serve.max_new_tokens_limit,
            max_residues=encoder.max_length,
            long_sequences=self.describer.long_sequences,
        )
        self.defaults = Decoding(
            max_new_tokens=min(gen.max_new_tokens, cfg.serve.max_new_tokens_limit),
            temperature=gen.temperature,
            top_p=gen.top_p,
        )
        self.serve_cfg = cfg.serve
        self.batch_sizes: Counter[int] = Counter()

    def describe(self, jobs: list[Job]) -> list[DescribeResponse]:
        """Describe a batch of checked items; answers in the order of ``jobs``."""
        started = time.perf_counter()
        d = self.describer
        groups: dict[Decoding, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(job.decoding, []).append(i)
        texts: list[str] = [""] * len(jobs)
        effects: list[Effect] = [Effect(None)] * len(jobs)
        sizes: list[int] = [0] * len(jobs)
        encode_s, generate_s = d.encode_seconds, d.generate_seconds
        for decoding, idx in groups.items():
            out = d.describe_with_effects(
                [
                    Query(
                        jobs[i].wild_type,
                        jobs[i].mutant,
                        facts_of(
                            mutations=jobs[i].mutations, protein_name=jobs[i].protein_name, function=jobs[i].function
                        ),
                    )
                    for i in idx
                ],
                max_new_tokens=decoding.max_new_tokens,
                temperature=decoding.temperature,
                top_p=decoding.top_p,
            )
            self.batch_sizes[len(idx)] += 1
            for i, described in zip(idx, out, strict=True):
                texts[i], effects[i], sizes[i] = described.text.strip(), described.effect, len(idx)
        done, ms, source = time.perf_counter(), 1000.0, d.effect_source
        encode_ms, generate_ms = (d.encode_seconds - encode_s) * ms, (d.generate_seconds - generate_s) * ms
        return [
            DescribeResponse(
                id=job.id,
                description=texts[i],
                mutations=list(job.mutations),
                window_start=job.window.start + 1 if job.window.cropped else None,
                effect_score=effects[i].score,
                effect_score_note=effects[i].note,
                effect_score_source=source.label,
                effect_score_warning=source.warning,
                model=self.name,
                timings=Timings(
                    queue_ms=(started - job.arrived) * ms,
                    encode_ms=encode_ms,
                    generate_ms=generate_ms,
                    total_ms=(done - job.arrived) * ms,
                    batch_size=sizes[i],
                ),
            )
            for i, job in enumerate(jobs)
        ]

    def info(self) -> ModelInfo:
        s, cache = self.serve_cfg, self.describer.wt_cache
        return ModelInfo(
            model=self.name,
            base_llm=self.base_llm,
            encoder_id=self.describer.encoder.encoder_id,
            effect_score_method=self.describer.effect_source.method,
            effect_score=EffectScoreInfo(**self.describer.effect_source.as_dict()),
            checkpoint=str(self.checkpoint),
            num_media_tokens=self.num_media_tokens,
            device=str(self.describer.encoder.device),
            limits=LimitsInfo(
                max_length=self.limits.max_length,
                extended_alphabet=self.limits.extended_alphabet,
                max_new_tokens_limit=s.max_new_tokens_limit,
                max_batch_items=s.max_batch_items,
                max_body_bytes=s.max_body_bytes,
                max_batch_size=s.max_batch_size,
                batch_wait_timeout_s=s.batch_wait_timeout_s,
            ),
            stats=Stats(
                items=sum(k * v for k, v in self.batch_sizes.items()),
                batches=sum(self.batch_sizes.values()),
                batch_sizes=dict(sorted(self.batch_sizes.items())),
                max_batch_size_seen=max(self.batch_sizes, default=0),
                wt_cache=CacheStats(size=len(cache), capacity=cache.capacity, hits=cache.hits, misses=cache.misses),
                encoded_sequences=self.describer.encoded_sequences,
                encoder_batches=self.describer.encoder_batches,
            ),
        )

    def check_health(self) -> None:
        """Raise when the device the model runs on is gone (Serve then replaces the replica)."""
        device = self.describer.encoder.device
        if device.type == "cuda":
            torch.ones(1, device=device).add_(1).item()
