"""What a training stage reads: the train/val record splits and the embeddings of their sequences.

Missing pieces are made first, through the same library functions as the jobs (preprocess + split
when ``outputs/data/train.parquet`` is absent; embedding when the store lacks a sequence), each
announced in the log, so ``python jobs/pretrain.py`` runs on a fresh checkout.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from m2t.atomic import atomic_write_bytes
from m2t.config import Config
from m2t.data.crop import CropError, Window, encoder_window
from m2t.data.neighbours import NEIGHBOURS, NeighbourIndex
from m2t.data.readers import format_summary, read_records
from m2t.data.records import as_dict, read_records_file, write_records
from m2t.data.split import split_records
from m2t.data.synthetic import generate
from m2t.embed.identity import encoder_identity
from m2t.embed.pipeline import embed_records
from m2t.embed.store import EmbeddingStore
from m2t.errors import InputError
from m2t.placement import encoder_pool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """The splits (``val`` None when empty or absent) and the identity of the embeddings they use."""

    train: Path
    val: Path | None
    encoder_id: str
    dim_in: int  # the embeddings' width: the adapter's input width
    max_residues: int  # the encoder's window: longer pairs are cropped (encoder.long_sequences)
    neighbours: Path | None = None  # the train split's neighbour index, when the prompt states the neighbour


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0


def _make_splits(cfg: Config, data_dir: Path) -> None:
    """What ``jobs/preprocess.py`` + ``jobs/split.py`` do with the config's defaults: records from
    ``data.inputs`` (else the labelled synthetic set), rejects beside them, then the grouped split."""
    data_dir.mkdir(parents=True, exist_ok=True)
    records_file = data_dir / "records.parquet"
    if records_file.is_file():
        records = read_records_file(records_file)
    elif cfg.data.inputs:
        result = read_records(
            cfg.data.inputs, max_length=cfg.data.max_length, extended_alphabet=cfg.data.extended_alphabet
        )
        records = result.accepted
        rejects = "".join(json.dumps(as_dict(r)) + "\n" for r in result.rejects)
        atomic_write_bytes(data_dir / "rejects.jsonl", rejects.encode())
        log.warning("preprocess: %s", format_summary(result.summary()))
        write_records(records_file, records)
    else:
        records = generate(**cfg.data.synthetic.model_dump())
        log.warning("preprocess: %d synthetic records (data.inputs is empty)", len(records))
        write_records(records_file, records)
    splits = split_records(
        records, val_fraction=cfg.data.val_fraction, test_fraction=cfg.data.test_fraction, seed=cfg.data.split_seed
    )
    for name, part in splits.items():
        if part or name != "test":
            write_records(data_dir / f"{name}.parquet", part)
    log.warning("split: %s", ", ".join(f"{name} {len(part)}" for name, part in splits.items()))


def prepare_inputs(cfg: Config) -> Inputs:
    """The stage's :class:`Inputs`, making splits and embeddings that are missing (on the current Ray cluster)."""
    data_dir = cfg.stage_dir("data")
    train, val = data_dir / "train.parquet", data_dir / "val.parquet"
    if not train.is_file():
        log.warning("no %s yet: running preprocess + split on the configured inputs first", train)
        _make_splits(cfg, data_dir)
    if _rows(train) < cfg.train.num_workers:
        raise InputError(f"{train} holds {_rows(train)} records, fewer than train.num_workers={cfg.train.num_workers}")
    if 0 < _rows(val) < cfg.train.num_workers:
        log.warning(
            "%s holds %d records, fewer than train.num_workers=%d: training without val loss",
            val,
            _rows(val),
            cfg.train.num_workers,
        )
    splits = [train] + ([val] if _rows(val) >= cfg.train.num_workers else [])
    options = encoder_pool(cfg)
    identity = encoder_identity(cfg.encoder, num_gpus=options["num_gpus"], num_cpus=options["num_cpus"])
    encoder_id, dim_in = identity.encoder_id, identity.hidden_size
    windows = split_windows(cfg, splits, max_residues=identity.max_length, encoder_id=encoder_id)
    if cfg.embed.mode == "store":
        sequences = list(dict.fromkeys(s for w in windows for s in (w.wild_type, w.mutant)))
        root = cfg.embed.store
        missing = sequences
        if EmbeddingStore.exists(root):
            store = EmbeddingStore.open(root)
            store.check(encoder_id=encoder_id, hidden_size=dim_in)
            missing = store.missing(sequences)
        if missing:
            log.warning(
                "embedding store %s lacks %d of the splits' %d sequences: embedding them first",
                root,
                len(missing),
                len(sequences),
            )
            embed_records(cfg, splits)
    return Inputs(
        train=train,
        val=val if len(splits) > 1 else None,
        encoder_id=encoder_id,
        dim_in=dim_in,
        max_residues=identity.max_length,
        neighbours=neighbour_index(train) if "neighbour" in cfg.model.prompt_fields else None,
    )


def neighbour_index(train: Path) -> Path:
    """The neighbour index of the train split (:mod:`m2t.data.neighbours`) beside it, made when missing or older."""
    path = train.with_name(NEIGHBOURS)
    if not path.is_file() or path.stat().st_mtime < train.stat().st_mtime:
        NeighbourIndex.of_records(read_records_file(train)).save(path)
        log.info("neighbour index of %s: %s", train, path)
    return path


def split_windows(cfg: Config, splits: list[Path], *, max_residues: int, encoder_id: str) -> list[Window]:
    """What the encoder sees of every record of ``splits`` (:mod:`m2t.data.crop`); an :class:`InputError` naming
    the records no window can hold (training would fail on them later)."""
    windows, bad = [], []
    for path in splits:
        table = pq.read_table(path, columns=["id", "wild_type", "mutant"]).to_pydict()
        for rid, wt, mut in zip(table["id"], table["wild_type"], table["mutant"], strict=True):
            try:
                windows.append(encoder_window(wt, mut, max_residues=max_residues, policy=cfg.encoder.long_sequences))
            except CropError as exc:
                bad.append(f"{path.name} record {rid}: {exc}")
    if bad:
        raise InputError(
            f"{len(bad)} training record(s) do not fit encoder {encoder_id}; drop them from the data. The first: {bad[0]}"
        )
    return windows
