"""Score-only mode: the zero-shot effect score of every variant of a deep mutational scan (ProteinGym's layout), no text.

    python jobs/score_variants.py --input BLAT_ECOLX.csv           # the wild type recovered from the rows
    python jobs/score_variants.py --input dms.csv --fasta wt.fasta --id P62593 encoder.name=1900
    python jobs/score_variants.py --input dms.csv --wild-type MSIQHFRV... batch_score.cpus_per_actor=2

The CSV has `mutant` (A42G, several joined by ':'), `mutated_sequence` and optionally `DMS_score`. Every row is
scored or rejected with its reason. Writes scores.csv (line, mutant, DMS_score, effect_score, effect_score_note),
rejects.jsonl and summary.json to --output (default outputs/score_variants/), and prints the Spearman correlation
with DMS_score when the file has it. The encoder is the config's (the tiny default: UniRep-64).
"""

from __future__ import annotations

import ray

from m2t.cluster import ray_init_args
from m2t.commands.args import job_parser, load, local_path
from m2t.errors import InputError
from m2t.infer.dms import wild_type_from_fasta
from m2t.infer.dms_score import score_dms
from m2t.preflight import preflight


def main() -> None:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--input", type=local_path, required=True, help="the scan: a CSV in ProteinGym's layout")
    parser.add_argument("--wild-type", default=None, help="the wild-type sequence (default: recovered from the rows)")
    parser.add_argument("--fasta", type=local_path, default=None, help="a FASTA file holding the wild type")
    parser.add_argument("--id", default=None, help="the FASTA entry to use (default: the file's only one)")
    parser.add_argument("--output", type=local_path, default=None, help="output dir (default: outputs/score_variants)")
    args = parser.parse_args()
    cfg = load(args)
    preflight(cfg, outputs={"--output": args.output})
    if args.wild_type and args.fasta:
        raise InputError("give the wild type as --wild-type SEQ or --fasta FILE, not both")
    if args.id and not args.fasta:
        raise InputError("--id picks an entry of --fasta")
    wild_type, origin = (args.wild_type.strip().upper(), "--wild-type") if args.wild_type else (None, "")
    if args.fasta:
        wild_type, origin = (
            wild_type_from_fasta(args.fasta, args.id),
            f"{args.fasta}" + (f" ({args.id})" if args.id else ""),
        )
    ray.init(**ray_init_args(ignore_reinit_error=True))  # (tests run the job in a process already connected)
    summary = score_dms(
        cfg,
        path=args.input,
        wild_type=wild_type,
        wild_type_from=origin,
        output=args.output or cfg.stage_dir("score_variants"),
    )
    effect = summary["effect_score"]
    print(
        f"score_variants: {summary['scored']} scored, {summary['rejected']} rejected of {summary['total']} rows "
        f"({summary['by_reason'] or 'no rejects'}); wild type: {summary['wild_type']['length']} residues, "
        f"{summary['wild_type']['from']}"
    )
    print(f"effect score: {effect['method']} of {effect['encoder_id']}; {summary['residues_per_s']} residues/s")
    if effect["warning"]:
        print(f"WARNING: {effect['warning']}")
    if (rho := summary["spearman"]) is not None:
        print(f"Spearman correlation with DMS_score: {rho['rho']} over {rho['rows']} rows")
    print(f"wrote {', '.join(summary['outputs'].values())}")
