"""Security properties, one test each: constant-time key check, no remote code by default, weights
only via safetensors / ``torch.load(weights_only=True)``, loopback bind by default, no secrets in
logs or checkpoints. (HTTP limits and 401s over real HTTP: tests/serve/test_serve_app.py.)"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from fastapi import HTTPException
from fastapi.security import HTTPAuthorizationCredentials

import m2t.serve.http as serve_http
from m2t.config import load_config
from m2t.encoders import build_encoder
from m2t.model import build_model, save_checkpoint
from m2t.serve.http import key_digest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "m2t"
KEY = "sk-m2t-secret-4b1d9a77c0e2"
HF = "hf_SECRETtoken8c1f0e5a9b7d"


def _require_key(api_key: str):
    return serve_http._auth_dependency(key_digest(api_key)).dependency


def test_api_key_check_uses_compare_digest_on_fixed_length_digests(monkeypatch):
    calls = []
    real = serve_http.hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(serve_http.hmac, "compare_digest", spy)
    check = _require_key(KEY)
    check(HTTPAuthorizationCredentials(scheme="Bearer", credentials=KEY))  # right key: no exception
    for wrong in ["", KEY[:-1], KEY + "x", KEY.upper(), "x" * 10_000]:
        with pytest.raises(HTTPException) as err:
            check(HTTPAuthorizationCredentials(scheme="Bearer", credentials=wrong))
        assert err.value.status_code == 401 and KEY not in str(err.value.detail)
    with pytest.raises(HTTPException):
        check(None)
    # every comparison went through compare_digest, on 32-byte digests whatever the given key's length
    # (no Authorization header at all compares b"" against the digest: it only reveals that none was sent)
    assert len(calls) == 7 and set(calls[:6]) == {(32, 32)} and calls[6] == (0, 32)


def test_trust_remote_code_is_off_unless_configured():
    for path in (None, REPO / "jobs/configs/llama3_esm3.yaml"):
        assert load_config(path).model.trust_remote_code is False
    assert load_config(None, ["model.trust_remote_code=true"]).model.trust_remote_code is True
    # every hub load of the LLM or its tokenizer passes the configured flag
    for path in (PACKAGE / "model/llm.py", PACKAGE / "model/tokenizer.py"):
        for call in re.findall(r"Auto\w+\.from_pretrained\(model_cfg\.llm[^\n]*", path.read_text()):
            assert "trust_remote_code=model_cfg.trust_remote_code" in call, call
    assert "trust_remote_code=True" not in "".join(p.read_text() for p in PACKAGE.rglob("*.py"))


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(name):
            yield node


def test_weights_load_only_via_safetensors_or_weights_only_torch_load():
    offenders = []
    for path in sorted((*PACKAGE.rglob("*.py"), *(REPO / "jobs").glob("*.py"))):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path}: imports {n}"
                for n in names
                if n.split(".")[0] in {"pickle", "cloudpickle", "dill", "joblib", "shelve"}
            ]
        for call in _calls(tree, "torch.load"):
            ok = any(
                k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in call.keywords
            )
            offenders += [] if ok else [f"{path}:{call.lineno}: {ast.unparse(call)}"]
        for call in _calls(tree, "np.load"):
            bad = any(
                k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in call.keywords
            )
            offenders += [f"{path}:{call.lineno}: {ast.unparse(call)}"] if bad else []
    assert offenders == []


def test_serve_binds_loopback_unless_told_otherwise():
    # the default (tiny) config and the schema default; the cluster config (llama3_esm3.yaml) opts in to 0.0.0.0
    assert load_config(None).serve.host == "127.0.0.1"
    assert type(load_config(None).serve).model_fields["host"].default == "127.0.0.1"
    tiny = REPO / "jobs/configs/serve_tiny.yaml"
    if tiny.exists():
        assert yaml.safe_load(tiny.read_text()).get("http_options", {}).get("host", "127.0.0.1") == "127.0.0.1"
    source = (PACKAGE / "commands/serve.py").read_text()
    assert 'http_options={"host": cfg.serve.host' in source
    assert re.search(r'"--host", default=None', source)


def test_secrets_never_reach_checkpoints_job_outputs_or_logs(tmp_path):
    env = {**os.environ, "M2T_API_KEY": KEY, "HF_TOKEN": HF, "HUGGING_FACE_HUB_TOKEN": HF}
    out = tmp_path / "data"
    proc = subprocess.run(
        [sys.executable, "jobs/preprocess.py", "--output", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    cfg = load_config(None, [f"output.root={tmp_path}"])
    old = {k: os.environ.get(k) for k in ("M2T_API_KEY", "HF_TOKEN")}
    os.environ.update(M2T_API_KEY=KEY, HF_TOKEN=HF)
    try:
        encoder = build_encoder(cfg.encoder)
        torch.manual_seed(0)
        model = build_model(cfg, stage="finetune", dim_in=encoder.hidden_size, encoder_id=encoder.encoder_id)
        ckpt = save_checkpoint(model, cfg, tmp_path / "checkpoint")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    files = [p for p in (*out.rglob("*"), *Path(ckpt).rglob("*")) if p.is_file()]
    assert len(files) >= 4
    leaked = [str(p) for p in files if KEY.encode() in p.read_bytes() or HF.encode() in p.read_bytes()]
    assert leaked == []
    assert KEY not in proc.stdout + proc.stderr and HF not in proc.stdout + proc.stderr
