"""`m2t describe` as a user runs it (a child process, no Ray): the same Describer's text and effect score, and bad
input refused with one line and exit 2 before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import tiny_config

from m2t.cli import EXIT_USAGE
from m2t.infer.describer import Describer

WT = "MKTAYIAKQRQISFVKSHFSRQ"


def describe(*args, cwd) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "m2t", "describe", *map(str, args), "generation.max_new_tokens=8"]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_json_is_one_object_with_the_describers_own_text_and_effect(tiny_checkpoint, tmp_path):
    run = describe("--checkpoint", tiny_checkpoint, "--wild-type", WT, "--mutation", "p.Lys2Arg", "--mutation", "Q9R,I6G",
                   "--mutation", "K2del", "--json", cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)  # the whole of stdout: one JSON object
    assert "describe: loading" in run.stderr and "describe: loaded in" in run.stderr  # said while it loads
    assert [r["notation"] for r in out["results"]] == [
        "K2R (lysine to arginine at position 2)",
        "Q9R, I6G (glutamine to arginine at position 9; isoleucine to glycine at position 6)",
        "K2del (deletion of the lysine at position 2)",
    ]
    ours = Describer(checkpoint=tiny_checkpoint, cfg=tiny_config(tmp_path)).describe_with_effects(
        [(WT, "MRTAYIAKQRQISFVKSHFSRQ"), (WT, "MKTAYGAKRRQISFVKSHFSRQ"), (WT, "MTAYIAKQRQISFVKSHFSRQ")]
    )
    assert [r["description"] for r in out["results"]] == [d.text.strip() for d in ours]
    effects = [r["effect"] for r in out["results"]]
    assert [e["score"] for e in effects[:2]] == [d.effect.score for d in ours[:2]] and effects[2]["score"] is None
    assert "covers substitutions only" in effects[2]["note"]
    assert {e["method"] for e in effects} == {"esm-wt-marginal"}  # where the score comes from
    assert {e["encoder"] for e in effects} == {out["model"]["encoder"]} == {"esm2:tiny:d64-l2-h4-seed0"}
    assert out["model"]["llm"] == "tiny" and out["wild_type"] == {"id": "wild_type", "length": len(WT)}


def test_text_from_a_fasta_entry(tiny_checkpoint, tmp_path):
    (tmp_path / "wt.fasta").write_text(f">other\nMKTA\n>toy a toy protein\n{WT[:11]}\n{WT[11:]}\n")
    run = describe("--checkpoint", tiny_checkpoint, "--fasta", "wt.fasta", "--id", "toy", "--mutation", "K2R",
                   cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "K2R (lysine to arginine at position 2) in toy (22 residues)"
    assert lines[1].startswith("  description: ")
    assert lines[2].startswith("  effect score: ") and "method: esm-wt-marginal" in lines[2]


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    """A bad mutation, a FASTA without the asked id, a directory that is not a checkpoint: each refused with the
    reason (the data layer's, as preprocessing and serving give it), before any model loads."""
    (tmp_path / "two.fasta").write_text(">a\nMKTAY\n>b\nMKTAYIAK\n")
    (tmp_path / "not_a_checkpoint").mkdir()
    cases = [
        (["--wild-type", WT, "--mutation", "R2K"], "error: --mutation 'R2K': mutation R2K expects R at position 2, found K"),
        (["--wild-type", WT, "--mutation", "K2"], "error: --mutation 'K2': "),
        (["--fasta", "two.fasta", "--id", "c", "--mutation", "K2R"], "error: two.fasta has no entry with id 'c'; its ids: a, b"),
        (["--fasta", "two.fasta", "--mutation", "K2R"], "error: two.fasta holds 2 entries (a, b); pick one with --id"),
        (["--checkpoint", "not_a_checkpoint", "--wild-type", WT, "--mutation", "K2R"],
         "error: checkpoint not_a_checkpoint is not an m2t checkpoint (no m2t_model.json)"),
    ]  # fmt: skip
    for args, message in cases:
        run = describe(*args, cwd=tmp_path)
        assert (run.returncode, run.stdout) == (EXIT_USAGE, ""), (args, run.stderr)
        *before, error = run.stderr.splitlines()  # the checkpoint is checked as it loads, after the progress line
        assert before == (["describe: loading not_a_checkpoint ..."] if "--checkpoint" in args else [])
        assert error.startswith(message), (args, run.stderr)
