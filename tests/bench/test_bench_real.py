"""The real-size GPU benchmark while no GPU is at hand: its dry run on CPU, its refusal without a GPU, its inputs.

``jobs/benchmark.py all --scale real --dry-run`` runs every code path of the GPU run (random Llama written and
loaded by m2t, ESM3 twin, both training stages with and without checkpointing, a checkpoint, the describe path)
at toy size, in a process that must never import Ray or DeepSpeed (the GPU machine has neither).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from m2t.bench.gpu.inputs import (
    DESCRIPTION_WORDS,
    SECOND_MUTANT_EVERY,
    WT_LENGTHS,
    mutadescribe_profile,
    profile_records,
)
from m2t.bench.gpu.models import llama3_special_tokens, llama3_tokenizer
from m2t.config import load_config
from m2t.model.tokenizer import add_m2t_tokens, end_of_turn_id

REPO = Path(__file__).resolve().parents[2]
# As on the GPU machine, Ray and DeepSpeed are absent: a None entry in sys.modules makes `import ray` fail and
# importlib.util.find_spec("ray") answer None, so libraries that use them when installed see them missing too.
RUN = """
import runpy, sys
sys.modules["ray"] = sys.modules["deepspeed"] = None
sys.argv = ["jobs/benchmark.py", *{args!r}]
try:
    runpy.run_path("jobs/benchmark.py", run_name="__main__")
except SystemExit as exc:
    print("EXIT", exc.code)
"""


def _job(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN.format(args=list(args))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_dry_run_writes_every_result_without_ray_or_deepspeed(tmp_path):
    out = tmp_path / "real.json"
    done = _job("all", "--scale", "real", "--dry-run", "--out", str(out))
    assert "EXIT 0" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    names = [r["benchmark"] for r in results]
    real = load_config(REPO / "jobs" / "configs" / "llama3_esm3.yaml")  # its micro-batches and checkpointing
    train = real.train
    configured, other = ("on", "off") if real.model.gradient_checkpointing else ("off", "on")
    assert names == [
        "real_embed",
        f"real_train_stage1_mb{train.pretrain.micro_batch_size}",
        f"real_train_stage2_mb{train.finetune.micro_batch_size}",
        "real_describe_b1",
        "real_describe_b2",
    ]
    embed, stage1, stage2, b1, b2 = results
    machine = embed["machine"]
    assert machine["scale"] == "dry" and machine["matmul_flops"] > 0 and not machine["skipped"]
    assert set(machine["phases_s"]) == {"write_random_llm", "embed", "build_model", "train", "serve", "total"}
    assert embed["ours"]["sequences_encoded"] < embed["baseline"]["sequences_encoded"]  # distinct vs every record's
    assert 0 < embed["ours"]["mfu"] and embed["ours"]["residues_encoded"] > 0
    for r in (stage1, stage2):
        assert r["ours"]["how"].startswith(f"gradient checkpointing {configured}")  # the config's, against the other
        assert r["baseline"]["how"].endswith(other)
        assert r["ours"]["flops_per_step"] == r["baseline"]["flops_per_step"] > 0 and r["ours"]["mfu"] > 0
        assert r["ours"]["tokens_per_s"] > r["ours"]["value"] > 0
    assert stage1["ours"]["trainable_params"] > stage2["ours"]["trainable_params"] > 0  # adapter, then LoRA
    assert b1["ours"]["batch_size"] == 1 and b2["ours"]["batch_size"] == 2 and b2["baseline"] == b1["ours"]
    assert b2["ours"]["tokens_per_sequence"] == [2]  # max_new_tokens: prefill + one decode step
    assert "| real_describe_b2 " in done.stdout


def test_without_a_gpu_the_real_scale_exits_at_once_with_one_line():
    started = time.monotonic()
    done = _job("all", "--scale", "real", env={"CUDA_VISIBLE_DEVICES": ""})
    assert "EXIT 2" in done.stdout and time.monotonic() - started < 120
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs a CUDA GPU" in errors[0] and "--dry-run" in errors[0]


def test_dry_run_flag_needs_the_real_scale():
    done = _job("embed", "--scale", "tiny", "--dry-run")
    assert "EXIT 2" in done.stdout and "--dry-run goes with --scale real" in done.stderr


def test_the_baked_length_profile_is_mutadescribe_s(mutadescribe_dir):
    profile = mutadescribe_profile(sorted(mutadescribe_dir.glob("*.csv")))
    assert profile == {"wt_lengths": WT_LENGTHS, "description_words": DESCRIPTION_WORDS}


def test_profile_records_have_the_profile_s_lengths():
    records = profile_records(wild_types=2 * len(WT_LENGTHS))
    wild_types = list(dict.fromkeys(r.wild_type for r in records))
    assert [len(w) for w in wild_types] == list(WT_LENGTHS) * 2
    assert len(records) == len(wild_types) + len(wild_types) // SECOND_MUTANT_EVERY
    assert sorted({len(r.description.split()) for r in records}) == sorted(set(DESCRIPTION_WORDS))


def test_llama3_tokenizer_has_llama31_s_layout():
    tok = llama3_tokenizer()
    assert len(tok) == 128256 and tok.convert_ids_to_tokens(list(range(128000, 128256))) == llama3_special_tokens()
    assert tok.bos_token_id == 128000 and tok.eos_token == "<|eot_id|>" and end_of_turn_id(tok) == 128009
    ids = tok("The residue is replaced by histidine.")["input_ids"]
    assert ids[0] == 128000 and max(ids[1:]) < 128000 and tok.decode(ids[1:]) == "The residue is replaced by histidine."
    add_m2t_tokens(tok, "<delta_P>")  # as m2t loads it: only <delta_P> is new, pad is Llama-3.1's own
    assert len(tok) == 128257 and tok.convert_tokens_to_ids("<delta_P>") == 128256 and tok.pad_token_id == 128004


def test_the_documented_wheels_are_the_script_s():
    script = (REPO / "jobs" / "gpu_bench.sh").read_text()
    wheels = re.search(r"WHEELS=\((.*?)\)", script, re.S).group(1).split()
    section = (REPO / "docs" / "performance.md").read_text().split("## GPU benchmark at real size")[1]
    documented = re.findall(r"^\| `([\w.-]+==[\w.]+)` \|", section, re.M)
    assert sorted(documented) == sorted(wheels)
