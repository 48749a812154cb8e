"""The HTTP API's answers name the effect score's source; a random ESM twin's say its scores mean nothing (the
service that Serve wraps, without Ray)."""

from __future__ import annotations

from serve_fixtures import opened_checkpoint

from m2t.config import load_config
from m2t.serve.prepare import prepare
from m2t.serve.schemas import DescribeRequest
from m2t.serve.service import DescribeService


def test_random_twin_answers_say_the_score_means_nothing(tmp_path):
    cfg = load_config(None, ["encoder.backend=esm2", f"output.root={tmp_path}", "generation.max_new_tokens=2"])
    service = DescribeService(cfg=cfg, checkpoint=opened_checkpoint(cfg, tmp_path / "checkpoint"))
    job = prepare(
        DescribeRequest(wild_type="MKTAYIAKQR", mutations="K2R"),
        loc=("body",),
        limits=service.limits,
        defaults=service.defaults,
    )
    (answer,) = service.describe([job])
    twin = "esm2:tiny:d64-l2-h4-seed0"
    assert answer.effect_score is not None
    assert answer.effect_score_source == f"esm-wt-marginal ({twin}) — RANDOM WEIGHTS, meaningless"
    assert answer.effect_score_warning.startswith(f"RANDOM WEIGHTS: {twin} is a seeded random twin")
    info = service.info().effect_score
    assert (info.method, info.encoder_id, info.random_weights) == ("esm-wt-marginal", twin, True)
    assert info.warning == answer.effect_score_warning
