"""The embed benchmark at a tiny size: the seed's loop and ours embed the same sequences, counted right."""

from __future__ import annotations

from dataclasses import replace

from bench_checks import check_result

from m2t.bench.embed import bench_encoder_config, run_embed
from m2t.bench.inputs import benchmark_records
from m2t.bench.scales import SCALES
from m2t.config import load_config
from m2t.encoders import build_encoder
from m2t.plan.flops import encoder_forward_flops


def test_embed_direct_and_ray_pipeline(ray_cluster, tmp_path):
    scale = replace(SCALES["tiny"], ray_pipeline=True)
    records = benchmark_records(wild_types=4, length_scale=0.1, seed=1)
    cfg = load_config(None, ["embed.cpus_per_actor=0.5"])
    direct, ray_part = run_embed(cfg, scale, workdir=tmp_path, records=records, rounds=2)
    for r in (direct, ray_part):
        check_result(r)
    assert (direct["benchmark"], ray_part["benchmark"]) == ("embed", "embed_ray")
    distinct = {s for r in records for s in (r.wild_type, r.mutant)}
    residues = sum(len(r.wild_type) + len(r.mutant) for r in records)
    assert direct["baseline"]["sequences_encoded"] == 2 * len(records)
    assert direct["baseline"]["residues_encoded"] == residues
    assert direct["ours"]["sequences_encoded"] == len(distinct) == direct["inputs"]["distinct_sequences"]
    assert direct["ours"]["residues_encoded"] == sum(map(len, distinct))
    assert ray_part["ours"]["store_sequences"] == len(distinct) and ray_part["baseline"] == direct["baseline"]
    assert direct["inputs"]["max_abs_diff_seed_vs_ours"] < 1e-4  # both paths compute the same embeddings
    model = build_encoder(bench_encoder_config(cfg, scale)).model
    assert direct["ours"]["flops"] == encoder_forward_flops(model, [len(s) for s in distinct])
    assert 0 < direct["ours"]["share_of_peak"] and direct["ours"]["micro_batches"] >= 1
    assert len(direct["ours"]["runs_seconds"]) == 2
    assert direct["inputs"]["encoder_id"] == "esmc:tiny:d64-l2-h4-seed0"
