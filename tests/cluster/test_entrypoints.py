"""Every `python jobs/X.py ...` command in cluster/, the Serve configs and docs/cluster.md runs a job and config that exist.

The jobs are written in parallel with these files: until one lands, its cases fail and say which file is missing.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from cluster_files import CLUSTER, REPO, SERVE_TINY_YAML, SERVE_YAML

from m2t.config import load_config

DOCS = REPO / "docs" / "cluster.md"
SOURCES = [*sorted(CLUSTER.rglob("*.yaml")), SERVE_YAML, SERVE_TINY_YAML, DOCS]
COMMAND = re.compile(
    r"python (jobs/[\w/]+\.py)((?:[^`#\\\n'\"]|'[^'\n]*'|\"[^\"\n]*\")*)"
)  # up to a comment, backtick or `\`
PIPELINE = ["preprocess", "split", "embed", "pretrain", "finetune"]


def commands() -> list[tuple[str, str, list[str]]]:
    """(where, job, arguments) of every command, e.g. ('docs/cluster.md:33', 'jobs/embed.py', ['--config', ...])."""
    found = []
    for path in SOURCES:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for m in COMMAND.finditer(line):
                found.append((f"{path.relative_to(REPO)}:{lineno}", m.group(1), shlex.split(m.group(2))))
    return found


COMMANDS = commands()
IDS = [f"{where} {job}" for where, job, _ in COMMANDS]


def parse(args: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(--config value, --flags, key=value overrides) of a job's arguments."""
    config, flags, overrides, i = None, [], [], 0
    while i < len(args):
        if args[i] == "--config":
            config, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--"):
            flags.append(args[i])
            i += 1 + (i + 1 < len(args) and not args[i + 1].startswith("-") and "=" not in args[i + 1])
            continue
        assert "=" in args[i], f"{args[i]!r} is neither a flag nor a key=value override"
        overrides.append(args[i])
        i += 1
    return config, flags, overrides


def test_the_docs_and_manifests_run_the_whole_pipeline_on_the_real_config():
    assert DOCS.is_file(), "docs/cluster.md is missing"
    for source in (DOCS, CLUSTER / "kuberay"):
        jobs = {
            Path(job).stem
            for where, job, args in COMMANDS
            if where.startswith(str(source.relative_to(REPO))) and parse(args)[0] == "m2t/configs/llama3_esm3.yaml"
        }
        assert set(PIPELINE) <= jobs, f"{source.relative_to(REPO)} lacks {sorted(set(PIPELINE) - jobs)}"


@pytest.mark.parametrize(("where", "job", "args"), COMMANDS, ids=IDS)
def test_job_and_config_exist_and_overrides_validate(where, job, args):
    assert (REPO / job).is_file(), f"{where}: {job} does not exist (yet)"
    config, _, overrides = parse(args)
    assert config is not None, f"{where}: {job} runs without --config (the tiny default) on a cluster"
    assert (REPO / config).is_file(), f"{where}: config {config} does not exist"
    linked = [p for p in (REPO / config).parents if p.is_symlink()]
    assert not linked, f"{where}: {config} goes through the link {linked[0].relative_to(REPO)}, which no code zip keeps"
    load_config(REPO / config, overrides)  # raises ConfigError naming the bad key


@cache
def job_help(job: str) -> str:
    run = subprocess.run(
        [sys.executable, str(REPO / job), "--help"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"{job} --help failed:\n{run.stderr[-2000:]}"
    return run.stdout


FLAGGED = [(w, j, a) for w, j, a in COMMANDS if parse(a)[1]]


@pytest.mark.parametrize(("where", "job", "args"), FLAGGED, ids=[f"{w} {j}" for w, j, _ in FLAGGED])
def test_flags_are_the_jobs_own(where, job, args):
    assert (REPO / job).is_file(), f"{where}: {job} does not exist (yet)"
    text = job_help(job)
    for flag in parse(args)[1]:
        assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", text), f"{where}: {job} has no {flag} option:\n{text}"


def test_every_file_the_docs_name_exists():
    named = set(re.findall(r"\b((?:cluster|jobs|docs)/[\w/.-]+\.(?:yaml|json|py|md))", DOCS.read_text()))
    assert named, "docs/cluster.md names no file"
    assert sorted(p for p in named if not (REPO / p).exists()) == []
