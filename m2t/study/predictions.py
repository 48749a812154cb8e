"""A variant's predictions on a set of rows, each with its per-row scores, kept on disk so that a rerun of the study
reuses them.

``<name>.jsonl`` holds one line per row (id, mutations, protein name, prediction, reference, and the row's metric
values: :func:`m2t.infer.metrics.row_scores`); ``<name>.key.json`` what made it (the digest of the checkpoint's
weights, the decoding, the row ids). A file whose key differs from the one asked for is made again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from m2t.atomic import atomic_write_text
from m2t.data.records import Record
from m2t.infer.metrics import row_scores


def scored_predictions(
    path: Path, *, records: Sequence[Record], key: dict, predict: Callable[[], list[str]]
) -> tuple[list[dict], bool]:
    """``(rows, made)``: the rows of ``path`` when its key is ``key`` (and the same row ids), else ``predict()``'s
    predictions scored against the records' descriptions and written there (``made`` True)."""
    key = {**key, "ids": [r.id for r in records]}
    meta = path.with_name(path.stem + ".key.json")
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()) == key:
        return [json.loads(line) for line in path.read_text().splitlines()], False
    predictions = predict()
    scores = row_scores(predictions, [r.description for r in records])
    rows = [
        {
            "id": r.id,
            "mutations": list(r.mutations),
            "protein_name": r.protein_name,
            "prediction": p,
            "reference": r.description,
            "scores": s,
        }
        for r, p, s in zip(records, predictions, scores, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    atomic_write_text(meta, json.dumps(key) + "\n")
    return rows, True


def weights_digest(checkpoint: Path) -> str:
    """SHA-256 of a checkpoint's weight files (adapter, LoRA, new token rows): the same weights, the same digest,
    however often the checkpoint is published again."""
    digest = hashlib.sha256()
    for path in sorted(Path(checkpoint).rglob("*.safetensors")):
        digest.update(path.relative_to(checkpoint).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def words(text: str) -> int:
    """Words of a text as the metrics split it (on single spaces, empty strings left out)."""
    return len([w for w in text.split(" ") if w])
