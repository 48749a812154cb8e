"""Describe mutations of one wild type with a checkpoint, from the shell: no Ray, no server.

    m2t describe --wild-type MKTAYIAKQRQISFVKSHFSRQ --mutation K2R      # outputs/finetune/checkpoint
    m2t describe --checkpoint DIR --fasta p53.fasta --id P04637 --mutation R175H --mutation R248Q --json
    m2t describe --config llama3_esm3 --checkpoint DIR --wild-type SEQ --mutation p.Arg175His encoder.device=cpu

Each --mutation is one variant (several changes at once: 'R175H,C176F'); every one gets its description, its effect
score with where the score comes from, and its notation as normalised. It runs the same Describer as evaluation,
batch scoring and serving (m2t.infer.describer) in this process. The wild type, its mutations and the checkpoint are
checked before the model loads, and refused as the jobs refuse them: one line and exit 2. --json prints one
JSON object. The config (--config, key=value) says where the model runs and how it decodes (encoder.*,
generation.*); the checkpoint says what it is.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from m2t.commands.args import job_parser, load, local_path
from m2t.config import Config
from m2t.data.crop import CropError
from m2t.data.notation import NotationError, apply_mutations, parse_mutations
from m2t.data.validate import check_sequence
from m2t.errors import InputError
from m2t.infer.scan import read_fasta

if TYPE_CHECKING:
    from m2t.infer.effect import Effect, EffectSource


def wild_type_of(args) -> tuple[str, str]:
    """``(id, sequence)`` from --wild-type or from --fasta (its --id entry, or its only one)."""
    if args.wild_type is not None:
        return "wild_type", "".join(args.wild_type.split()).upper()
    entries = {name: seq for name, seq, _ in read_fasta(args.fasta)}
    if args.id is not None:
        if args.id not in entries:
            raise InputError(f"{args.fasta} has no entry with id {args.id!r}; its ids: {', '.join(entries)}")
        return args.id, entries[args.id]
    if len(entries) > 1:
        raise InputError(f"{args.fasta} holds {len(entries)} entries ({', '.join(entries)}); pick one with --id")
    return next(iter(entries.items()))


def variants(cfg: Config, wild_type: str, texts: list[str], *, field: str) -> list[tuple[str, list[str], str]]:
    """``(given text, normalised mutations, mutant)`` per --mutation; an InputError naming the first bad one."""
    limits = {"max_length": cfg.data.max_length, "extended_alphabet": cfg.data.extended_alphabet}
    if reason := check_sequence(wild_type, field=field, **limits):
        raise InputError(reason)
    out = []
    for text in texts:
        try:
            parsed = parse_mutations(text)
            mutant = apply_mutations(wild_type, parsed)
        except NotationError as exc:
            raise InputError(f"--mutation {text!r}: {exc}") from None
        if reason := check_sequence(mutant, field="the mutant", **limits):
            raise InputError(f"--mutation {text!r}: {reason}")
        out.append((text, [str(m) for m in parsed], mutant))
    return out


def effect_fields(effect: Effect, *, source: EffectSource) -> dict:
    """Everything a description's effect carries, and where the score comes from (method, encoder, a warning when
    the encoder's weights are random): what describe prints of it."""
    return {**asdict(effect), "method": source.method, "encoder": source.encoder_id, "warning": source.warning}


def effect_text(fields: dict) -> str:
    score = "none" if fields["score"] is None else f"{fields['score']:+.3f}"
    return f"{score} ({', '.join(f'{k}: {v}' for k, v in fields.items() if k != 'score' and v is not None)})"


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=local_path, default=None, help="checkpoint dir (default: outputs/finetune/checkpoint)"
    )
    given = parser.add_mutually_exclusive_group(required=True)
    given.add_argument("--wild-type", default=None, help="the wild-type sequence (one-letter amino acids)")
    given.add_argument("--fasta", type=local_path, default=None, help="a FASTA file holding the wild type")
    parser.add_argument("--id", default=None, help="which entry of --fasta (its header's first word)")
    parser.add_argument(
        "--mutation", action="append", required=True, help="a variant: R175H, p.Arg175His, 'R175H,C176F' (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_intermixed_args()
    if args.id is not None and args.fasta is None:
        parser.error("--id goes with --fasta")
    cfg = load(args)
    wt_id, wild_type = wild_type_of(args)
    field = "--wild-type" if args.fasta is None else f"the wild type {wt_id} of {args.fasta}"
    asked = variants(cfg, wild_type, args.mutation, field=field)  # checked before torch is even imported
    started = time.perf_counter()
    print(f"describe: loading {args.checkpoint or 'the finetuned checkpoint'} ...", file=sys.stderr, flush=True)
    from m2t.infer.describer import Describer, finetuned_checkpoint
    from m2t.model.prompt import mutation_text

    checkpoint = finetuned_checkpoint(cfg, args.checkpoint)
    describer = Describer(checkpoint=checkpoint, cfg=cfg)
    encoder_id = describer.encoder.encoder_id
    loaded = time.perf_counter() - started
    print(f"describe: loaded in {loaded:.1f} s ({encoder_id} on {describer.encoder.device})", file=sys.stderr)
    for text, _, mutant in asked:
        try:
            describer.window(wild_type, mutant)
        except CropError as exc:
            raise InputError(f"--mutation {text!r}: {exc}") from None
    described = describer.describe_with_effects([(wild_type, mutant) for _, _, mutant in asked])
    results = [
        {
            "mutation": text,
            "mutations": mutations,
            "notation": mutation_text(mutations),
            "description": d.text.strip(),
            "effect": effect_fields(d.effect, source=describer.effect_source),
        }
        for (text, mutations, _), d in zip(asked, described, strict=True)
    ]
    if args.json:
        out = {
            "checkpoint": str(Path(checkpoint).resolve()),
            "model": {"llm": describer.trained.model.llm, "encoder": encoder_id},
            "wild_type": {"id": wt_id, "length": len(wild_type)},
            "results": results,
            "seconds": {"load": round(loaded, 2), "describe": round(time.perf_counter() - started - loaded, 2)},
        }
        print(json.dumps(out, indent=2))
        return
    for r in results:
        print(f"{r['notation']} in {wt_id} ({len(wild_type)} residues)")
        print(f"  description:  {r['description']}")
        print(f"  effect score: {effect_text(r['effect'])}")
