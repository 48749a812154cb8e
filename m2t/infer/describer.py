"""Describe mutations with a trained checkpoint: the one describe path of evaluate, batch scoring and serving.

    describer = Describer(checkpoint="outputs/finetune/checkpoint", cfg=cfg)
    describer.describe([("MKTAYIAKQR", "MKTAYIAKHR")])     # ["... replaced by histidine ..."]
    describer.describe([Query("MKTAYIAKQR", "MKTAYIAKHR", PromptFacts(protein_name="Toy"))])

    describer.describe_with_effects([("MKTAYIAKQR", "MKTAYIAKHR")])  # [Description(text=..., effect=Effect(-0.4))]

The checkpoint says which encoder it was trained on and which facts its prompt states (``model.prompt_fields``;
the ``neighbour`` fact comes from the neighbour index saved in it, never from the query's own protein);
``cfg`` only says where and how it runs (``encoder.device``, ``encoder.dtype``, ``encoder.token_budget``,
``encoder.max_padding``, ``encoder.long_sequences``: see :func:`m2t.encoders.with_runtime`) and how to decode
(``generation``).
Embeddings are rounded through the store dtype the model was trained with, read from an
embedding store when it holds them, and each wild type goes through the encoder once (LRU): that pass also keeps what
the encoder's effect method needs (:mod:`m2t.infer.effect`: ESM's log-probability table, UniRep's states), from which
every mutation of it gets its zero-shot effect score. The store keeps embeddings only, so a wild type is encoded for
its log-probabilities even when the store holds its embedding (one pass per wild type while cached; the store's
embedding is the one used). UniRep's score also needs a pass over each mutant, which gives the mutant's embedding
too (the store is not read for mutants then): a wild type new to the LRU runs in the same pass as its mutants, each
joining at its first changed residue from the wild type's state of that step (:meth:`Describer.encode_pairs`); the
mutants of a cached wild type start from its kept states.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from m2t.config import Config
from m2t.data.crop import Window, encoder_window
from m2t.data.neighbours import NEIGHBOURS, NeighbourIndex
from m2t.data.notation import derive_mutations
from m2t.data.records import Record
from m2t.embed.actor import round_to
from m2t.embed.store import EmbeddingStore
from m2t.encoders import build_encoder, with_runtime
from m2t.errors import M2TError, MismatchError
from m2t.infer.cache import EmbeddingLRU
from m2t.infer.effect import METHODS, Effect, EffectSource
from m2t.model import load_checkpoint, trained_config
from m2t.model.batching import pad_embeddings
from m2t.model.checkpoint import require_checkpoint, stage_checkpoint
from m2t.model.prompt import PromptFacts, facts_of

log = logging.getLogger(__name__)
TRACE_EVERY = 16  # a cached UniRep wild type keeps its states every 16 steps (a mutant recomputes up to 15)


def finetuned_checkpoint(cfg: Config, path: str | Path | None = None) -> Path:
    """The checkpoint to describe with: ``path``, else ``<output.root>/finetune/checkpoint``; an
    :class:`InputError` naming the commands that make one when it is not there."""
    return require_checkpoint(
        path if path is not None else stage_checkpoint(cfg, "finetune"),
        fix="train one with `m2t pretrain && m2t finetune` (same --config), or pass --checkpoint DIR",
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


def _neighbour_index(checkpoint: Path) -> NeighbourIndex:
    if not (checkpoint / NEIGHBOURS).is_file():
        raise MismatchError(
            f"{checkpoint} was trained with the neighbour prompt field but holds no {NEIGHBOURS}: retrain it "
            "with this version (training saves the index in the checkpoint)"
        )
    return NeighbourIndex.load(checkpoint / NEIGHBOURS)


@dataclass(frozen=True)
class Query:
    """One mutation to describe: the full-length sequences and what the prompt may state of it (``facts``: None =
    the mutations derived from the two sequences, no protein name or function)."""

    wild_type: str
    mutant: str
    facts: PromptFacts | None = None

    @classmethod
    def of(cls, item: Query | tuple[str, str]) -> Query:
        return item if isinstance(item, Query) else cls(*item)


@dataclass(frozen=True)
class Description:
    """What :meth:`Describer.describe_with_effects` gives per query: the text and the zero-shot effect score (None
    when it was not asked for)."""

    text: str
    effect: Effect | None


def query_of(record: Record) -> Query:
    """The :class:`Query` of a record: its sequences and everything the prompt may state of it."""
    facts = facts_of(mutations=record.mutations, protein_name=record.protein_name, function=record.function)
    return Query(record.wild_type, record.mutant, facts)


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
        self.encoder_cfg = with_runtime(trained.encoder, cfg.encoder)
        self.encoder = build_encoder(self.encoder_cfg)
        self.effect, self.effect_source = METHODS[self.encoder.effect_method], EffectSource.of(self.encoder)
        self.model, self.trained = load_checkpoint(checkpoint, stage="infer", encoder_id=self.encoder.encoder_id)
        self.model.to(self.encoder.device)
        self.checkpoint, self.generation = checkpoint, cfg.generation
        self.long_sequences = self.encoder_cfg.long_sequences
        self.store_dtype = trained.embed.dtype
        self.store = _open_store(store, self.encoder.encoder_id)
        self.neighbours = _neighbour_index(checkpoint) if "neighbour" in self.trained.model.prompt_fields else None
        self.wt_cache = EmbeddingLRU(capacity=wt_cache_size)
        self.encoded_sequences = self.encoded_wild_types = self.encoded_mutants = 0
        self.encoder_batches = self.store_hits = 0
        self.encode_seconds = self.generate_seconds = 0.0

    @property
    def max_length(self) -> int:
        """Longest sequence the encoder takes, in residues (longer pairs are cropped, see :meth:`window`)."""
        return self.encoder.max_length

    def window(self, wild_type: str, mutant: str) -> Window:
        """What the encoder sees of a pair (:func:`m2t.data.crop.encoder_window`; :class:`CropError` when it can't)."""
        return encoder_window(wild_type, mutant, max_residues=self.encoder.max_length, policy=self.long_sequences)

    def facts(self, query: Query) -> PromptFacts:
        """The query's facts, the mutations derived from its sequences when it gives none and the prompt names them
        (or the neighbour), and the neighbour from the checkpoint's index when the prompt names it and the query
        gives none."""
        facts = query.facts or PromptFacts()
        fields = self.trained.model.prompt_fields
        if not facts.mutations and ("mutation" in fields or "neighbour" in fields):
            facts = replace(facts, mutations=tuple(derive_mutations(query.wild_type, query.mutant)))
        if self.neighbours is not None and not facts.neighbour:
            neighbour = self.neighbours.describe(wild_type=query.wild_type, mutations=facts.mutations)
            facts = replace(facts, neighbour=neighbour)
        return facts

    def _stored(self, sequences: Sequence[str]) -> dict[str, torch.Tensor]:
        """The distinct ``sequences`` the store holds -> their embeddings."""
        if self.store is None:
            return {}
        present = [s for s in dict.fromkeys(sequences) if s in self.store]
        self.store_hits += len(present)
        return {s: torch.from_numpy(e) for s, e in zip(present, self.store.get_many(present), strict=True)}

    def _as_trained(self, embedding: torch.Tensor) -> torch.Tensor:
        """An encoder's ``(L, D)`` embedding rounded through the store dtype the model was trained with."""
        return torch.from_numpy(round_to(embedding, self.store_dtype))

    def embed(self, sequences: Sequence[str]) -> list[torch.Tensor]:
        """``(L_i, D)`` float32 per sequence, as training saw them; store first, encoder for the rest."""
        sequences = list(sequences)
        found = self._stored(sequences)
        missing = [s for s in dict.fromkeys(sequences) if s not in found]
        if missing:
            self.encoder_batches += 1
            self.encoded_sequences += len(missing)
            for s, emb in zip(missing, self.encoder.embed(missing), strict=True):
                found[s] = self._as_trained(emb)
        return [found[s] for s in sequences]

    def embed_wild_types(self, sequences: Sequence[str]) -> list[tuple[torch.Tensor, object]]:
        """``(embedding (L_i, D), what the effect method keeps)`` per distinct sequence, from one encoder pass (the
        store's embedding when it has one: it holds nothing else)."""
        sequences = list(dict.fromkeys(sequences))
        found = self._stored(sequences)
        self.encoder_batches += 1
        self.encoded_sequences += len(sequences)
        return [
            (found[s] if s in found else self._as_trained(e), kept)
            for s, (e, kept) in zip(
                sequences, self.effect.wild_types(self.encoder, sequences, every=TRACE_EVERY), strict=True
            )
        ]

    def pass_mutants(self, mutants: Sequence[str], kept: Sequence[object]) -> list[tuple[torch.Tensor, object]]:
        """``(embedding (L_i, D), what the effect method needs of it)`` per mutant, each from its wild type's ``kept``
        (distinct mutants once)."""
        unique = dict(zip(mutants, kept, strict=True))
        self.encoder_batches += 1
        self.encoded_sequences += len(unique)
        passes = self.effect.mutants(self.encoder, list(unique), list(unique.values()), embeddings=True)
        done = {s: (self._as_trained(e), m) for s, (e, m) in zip(unique, passes, strict=True)}
        return [done[s] for s in mutants]

    def encode_pairs(self, wild_types: list[str], mutants: list[str]) -> tuple[list[tuple], list[tuple]]:
        """For an effect method with a mutant pass: per pair, the wild type's ``(embedding, kept)`` and the mutant's
        ``(embedding, what the effect needs)``. A wild type the LRU lacks goes through the encoder in one pass with
        its mutants, each forking from its state at their first difference; a cached one's mutants start from its
        kept states (:meth:`pass_mutants`). Distinct sequences once."""
        forked: dict[str, tuple] = {}

        def with_mutants(missing: list[str]) -> list[tuple]:
            where = {w: i for i, w in enumerate(missing)}
            family = {m: where[w] for w, m in zip(wild_types, mutants, strict=True) if w in where}
            found = self._stored(missing)
            self.encoder_batches += 1
            self.encoded_sequences += len(missing) + len(family)
            self.encoded_wild_types += len(missing)
            self.encoded_mutants += len(family)
            traced, passed = self.effect.together(
                self.encoder, missing, list(family), list(family.values()), every=TRACE_EVERY
            )
            for m, (e, need) in zip(family, passed, strict=True):
                forked[m] = (self._as_trained(e), need)
            return [
                (found[s] if s in found else self._as_trained(e), kept)
                for s, (e, kept) in zip(missing, traced, strict=True)
            ]

        wts = self.wt_cache.get_or_embed(wild_types, with_mutants)
        rest = {m: kept for m, (_, kept) in zip(mutants, wts, strict=True) if m not in forked}
        if rest:
            before = self.encoded_sequences
            forked.update(zip(rest, self.pass_mutants(list(rest), list(rest.values())), strict=True))
            self.encoded_mutants += self.encoded_sequences - before
        return wts, [forked[m] for m in mutants]

    @property
    def reads_protein(self) -> bool:
        """Whether the text can depend on the protein vectors: a protein model whose adapter gate is open (a fresh
        adapter's gate is 0, and :func:`m2t.study.variants.protein_zeroed` shuts it)."""
        return self.model.use_protein and bool(self.model.adapter.media_gate.gate.detach().ne(0).any())

    def describe(self, queries: Sequence[Query | tuple[str, str]], **decoding) -> list[str]:
        """The texts of :meth:`describe_with_effects` (decoding keywords: ``max_new_tokens``, ``temperature``,
        ``top_p``), without the effect scores: when the model does not read the protein (:attr:`reads_protein`),
        the encoder is not run at all."""
        return [d.text for d in self.describe_with_effects(queries, effects=False, **decoding)]

    @torch.inference_mode()
    def describe_with_effects(
        self,
        queries: Sequence[Query | tuple[str, str]],
        *,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        effects: bool = True,
    ) -> list[Description]:
        """One :class:`Description` per :class:`Query` (or ``(wild_type, mutant)`` pair), in order, in chunks of
        ``generation.batch_size``.

        Decoding defaults come from ``cfg.generation``. The encoder sees each pair's :meth:`window`; wild types go
        through the LRU (encoded once while cached, with their log-probabilities); each distinct mutant of a chunk is
        encoded once. The effect score uses the query's mutations, else those derived from its sequences; with
        ``effects`` false every ``effect`` is None, and a model that does not read the protein gets zero vectors
        instead of an encoder pass (its text is the same).
        """
        queries = [Query.of(q) for q in queries]
        gen = self.generation
        out: list[Description] = []
        for start in range(0, len(queries), gen.batch_size):  # embeddings are held for one chunk at a time
            chunk = queries[start : start + gen.batch_size]
            windows = [self.window(q.wild_type, q.mutant) for q in chunk]
            started, before = time.perf_counter(), self.encoded_sequences
            if (effects or self.reads_protein) and self.effect.mutant_pass:  # UniRep: the mutants' own passes
                wild_types, mutants = self.encode_pairs([w.wild_type for w in windows], [w.mutant for w in windows])
            elif effects or self.reads_protein:  # ESM: the wild type's pass holds the effect; mutants embedded
                wild_types = self.wt_cache.get_or_embed([w.wild_type for w in windows], self.embed_wild_types)
                self.encoded_wild_types += self.encoded_sequences - before
                before = self.encoded_sequences
                mutants = [(emb, None) for emb in self.embed([w.mutant for w in windows])]
                self.encoded_mutants += self.encoded_sequences - before
            else:  # the vectors cannot change the text: one zero vector a sequence, no encoder pass
                wild_types = mutants = [(torch.zeros(1, self.encoder.hidden_size), None)] * len(chunk)
            wt_emb = [emb for emb, _ in wild_types]
            mut_emb = [emb for emb, _ in mutants]
            wt, wt_mask = pad_embeddings(wt_emb)  # (b, Lw, D), (b, Lw) True = residue
            mut, mut_mask = pad_embeddings(mut_emb)  # (b, Lm, D), (b, Lm) True = residue
            encoded = time.perf_counter()
            texts = self.model.generate(
                wt_emb=wt,
                wt_mask=wt_mask,
                mut_emb=mut,
                mut_mask=mut_mask,
                facts=[self.facts(q) for q in chunk],
                max_new_tokens=max_new_tokens if max_new_tokens is not None else gen.max_new_tokens,
                temperature=temperature if temperature is not None else gen.temperature,
                top_p=top_p if top_p is not None else gen.top_p,
                repetition_penalty=gen.repetition_penalty,
            )
            for q, w, (_, kept), (_, mutant), text in zip(chunk, windows, wild_types, mutants, texts, strict=True):
                named = q.facts.mutations if q.facts and q.facts.mutations else derive_mutations(q.wild_type, q.mutant)
                out.append(Description(text, self.effect.effect(named, w, kept, mutant) if effects else None))
            self.encode_seconds += encoded - started
            self.generate_seconds += time.perf_counter() - encoded
        return out
