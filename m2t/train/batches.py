"""Model batches from a worker's shard of records: embeddings joined from the store, dynamic padding.

A Ray Data batch holds records (``wild_type``, ``mutant``, ``description``, ...). In store mode the
worker reads each record's per-residue embeddings from the embedding store; in stream mode the
rows already carry ``wt_emb``/``mut_emb`` from the encoder actors. Either way the batch is padded
to its own longest prompt and protein (:func:`m2t.model.batching.collate`), never to a fixed length.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from m2t.config import ModelConfig
from m2t.data.crop import LongSequences, encoder_window
from m2t.data.neighbours import NeighbourIndex
from m2t.embed.store import EmbeddingStore
from m2t.encoders.base import MAX_RESIDUES
from m2t.model.batching import IGNORE, collate, make_example
from m2t.model.prompt import PromptFacts, facts_of

# Rows held by each worker's local shuffle buffer, per sample of the micro-batch.
SHUFFLE_ROWS_PER_SAMPLE = 32


def ingest_options():
    """Ray Train's default ingest options with ``preserve_order``: without it Ray Data's format threads
    (``iter_batches(prefetch_batches=2)``) may hand batches over in another order from run to run, so a run and
    its rerun would not see the same micro-batches."""
    from ray.train import DataConfig

    options = DataConfig.default_ingest_options()
    options.preserve_order = True
    return options


class BatchMaker:
    """Turns one Ray Data batch of records into the tensors :meth:`M2TModel.forward` takes.

    ``store``: the embedding store directory (store mode), or None when rows carry embeddings. A pair longer
    than ``max_residues`` is read as the window the encoder saw (:mod:`m2t.data.crop`, ``long_sequences``). The
    rows' ``mutations``, ``protein_name`` and ``function`` fill the prompt fields ``model_cfg`` names, and
    ``neighbours`` (the train split's index) the ``neighbour`` field: never a row's own protein.
    """

    def __init__(
        self,
        *,
        tokenizer: PreTrainedTokenizerBase,
        model_cfg: ModelConfig,
        store: str | None,
        max_residues: int = MAX_RESIDUES,
        long_sequences: LongSequences = "crop",
        neighbours: NeighbourIndex | None = None,
    ):
        self.tokenizer, self.model_cfg = tokenizer, model_cfg
        self.store = EmbeddingStore.open(store) if store is not None else None
        self.max_residues, self.long_sequences = max_residues, long_sequences
        if "neighbour" in model_cfg.prompt_fields and neighbours is None:
            raise ValueError("model.prompt_fields names neighbour: give the train split's neighbour index")
        self.neighbours, self._neighbour_of = neighbours, {}

    def facts(self, rows: dict[str, np.ndarray], i: int) -> PromptFacts:
        """What the prompt may state of row ``i`` of a batch of records (the columns it has; the neighbour from the
        index, once per distinct row)."""
        given = {k: rows[k][i] for k in ("mutations", "protein_name", "function") if k in rows}
        if self.neighbours is None or "neighbour" not in self.model_cfg.prompt_fields:
            return facts_of(**given)
        wild_type, mutations = str(rows["wild_type"][i]), tuple(str(m) for m in rows["mutations"][i])
        pid = rows["protein_id"][i] if "protein_id" in rows else None
        key = (wild_type, mutations, pid)
        if key not in self._neighbour_of:
            self._neighbour_of[key] = self.neighbours.describe(wild_type=wild_type, mutations=mutations, protein_id=pid)
        return facts_of(**given, neighbour=self._neighbour_of[key])

    def embeddings(self, rows: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``(wt [(Lw_i, D)], mut [(Lm_i, D)])`` float32 for the batch's records."""
        if "wt_emb" in rows:
            return list(rows["wt_emb"]), list(rows["mut_emb"])
        if self.store is None:
            raise ValueError("rows carry no wt_emb/mut_emb and no embedding store was given")
        windows = [
            encoder_window(str(w), str(m), max_residues=self.max_residues, policy=self.long_sequences)
            for w, m in zip(rows["wild_type"], rows["mutant"], strict=True)
        ]
        wts, muts = [w.wild_type for w in windows], [w.mutant for w in windows]
        embs = self.store.get_many(wts + muts)
        return embs[: len(wts)], embs[len(wts) :]

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Returns ``input_ids``/``labels``/``attention_mask`` (b, t), ``wt_emb`` (b, Lw, D), ``wt_mask`` (b, Lw)
        bool (True = residue), ``mut_emb`` (b, Lm, D), ``mut_mask`` (b, Lm)."""
        wts, muts = self.embeddings(rows)
        examples = []
        for i, (text, wt, mut) in enumerate(zip(rows["description"], wts, muts, strict=True)):
            example = make_example(self.tokenizer, self.model_cfg, str(text), self.facts(rows, i))
            examples.append(
                {
                    **example,
                    "wt_emb": torch.from_numpy(np.asarray(wt, np.float32)),
                    "mut_emb": torch.from_numpy(np.asarray(mut, np.float32)),
                }
            )
        return collate(examples, pad_id=self.tokenizer.pad_token_id)


def supervised_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens the LM loss averages over: labels after the causal shift that are not ignored."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def token_weighted(mean_loss: torch.Tensor, *, tokens: float, step_tokens: float, parts: int) -> torch.Tensor:
    """A micro-batch's loss to backpropagate so that every supervised token of the optimizer step weighs the same.

    ``mean_loss`` averages the micro-batch's ``tokens`` supervised tokens; ``step_tokens`` counts those of all
    ``parts`` micro-batches of the step (every worker's, every accumulation's), whose gradients DeepSpeed averages.
    Scaled by ``tokens * parts / step_tokens``, that average is the gradient of the mean over all the step's tokens.
    Unscaled, each micro-batch would weigh the same whatever its length: a short answer's tokens, its end of turn
    among them, would count several times more than a long answer's, the more so as length grouping puts short
    answers together (on the study's data: 29% of the loss on the answers of 10 words or fewer, 8% of the tokens).
    """
    return mean_loss * (tokens * parts / max(step_tokens, 1.0))


def length_groups(
    rows: dict[str, np.ndarray], *, batch_size: int, rng: np.random.Generator
) -> list[dict[str, np.ndarray]]:
    """``rows`` sorted by length (description, which sets the LLM's tokens, then wild type) and cut into ``batch_size``
    rows each, in a random order: samples of similar length share a micro-batch (little padding) while the order
    stays random."""
    n = len(rows["wild_type"])
    order = np.lexsort(([len(str(w)) for w in rows["wild_type"]], [len(str(d)) for d in rows["description"]]))
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    return [{k: v[chunks[j]] for k, v in rows.items()} for j in rng.permutation(len(chunks))]


def epochs(
    shard, *, make: BatchMaker, batch_size: int, seed: int, start_epoch: int, group: int = 1
) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
    """``(epoch, batch)`` forever: one pass over ``shard`` (a Ray ``DataIterator``) per epoch, each
    shuffled through a local buffer seeded by ``seed + epoch``; every ``group`` micro-batches' worth of
    rows is regrouped by length (:func:`length_groups`)."""
    epoch = start_epoch
    while True:
        seen, rng = 0, np.random.default_rng(seed + epoch)
        for rows in shard.iter_batches(
            batch_size=batch_size * group,
            batch_format="numpy",
            prefetch_batches=2,
            local_shuffle_buffer_size=SHUFFLE_ROWS_PER_SAMPLE * batch_size,
            local_shuffle_seed=seed + epoch,
        ):
            for part in length_groups(rows, batch_size=batch_size, rng=rng) if group > 1 else [rows]:
                seen += 1
                yield epoch, make(part)
        if not seen:
            raise ValueError("this worker's share of the train split is empty; use more records or fewer workers")
        epoch += 1
