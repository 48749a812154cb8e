"""The capacity plan as text: what ``jobs/plan.py`` prints (the numbers are :func:`m2t.plan.capacity.plan`'s)."""

from __future__ import annotations

GB = 1e9


def _n(x: float) -> str:
    """Counts with a unit suffix: 221.4M, 8.07B, 18.6K."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}" if abs(x) < 100 * size else f"{x / size:,.0f}{unit}"
    return f"{x:.3g}"


def _gb(x: float) -> str:
    if x < 0.1 * GB:
        return f"{x / 1e6:,.1f} MB"
    return f"{x / GB:,.2f} GB" if x < 100 * GB else f"{x / GB:,.0f} GB"


def format_plan(p: dict) -> str:
    c, d, e = p["config"], p["data"], p["encoder"]
    tokens = "counted with the tokenizer" if d["tokens_counted"] else "estimated from characters"
    split = "the split jobs/split.py makes" if d["split_exact"] else "rows × the train fraction"
    lines = [
        f"plan for {c['llm']} + {c['encoder']} on {c['gpu']} GPUs at {c['mfu']:.0%} MFU (bf16 dense peak)",
        f"data: {d['source']}",
        f"  {d['rows']:,} records, {d['train_rows']:,} in train ({split}); {d['distinct']:,} distinct sequences, "
        f"{d['residues_per_sample']:.0f} residues a sample (wt + mut), longest {d['max_residues']:,}",
        f"  LLM tokens a sample: {d['tokens']:.0f} mean, {d['max_tokens']:,} longest ({tokens})",
        f"encoder: {_n(e['params'])} parameters, {e['hidden']}-d; embedding every distinct sequence once: "
        f"{e['embed_gpu_hours']:,.1f} GPU-hours",
        f"store: {_gb(p['store_bytes'])}" if p["store_bytes"] else "store: none (embed.mode stream)",
    ]
    for s in p["stages"]:
        m, g, ep = s["memory_bytes"], s["gradient_checkpointing"], s["epoch"]
        toggled = "off" if g["on"] else "on"
        lines += [
            "",
            f"stage {s['stage']}",
            f"  parameters: {_n(s['params']['total'])} total, {_n(s['params']['trainable'])} trainable",
            f"  GPU memory per worker: weights {_gb(m['weights'])}, gradients {_gb(m['gradients'])}, optimizer "
            f"{_gb(m['optimizer'])}, buffers {_gb(m['buffers'])}, activations {_gb(m['activations'])} "
            f"(longest micro-batch {_gb(m['activations_longest'])}): {_gb(m['total_longest'])} at most, "
            f"of {_gb(s['gpu_memory_bytes'])}",
            f"  FLOPs a sample: {_n(s['flops_per_sample'])} (gradient checkpointing {'on' if g['on'] else 'off'}; "
            f"{toggled}: {_n(g['flops_if_toggled'])} FLOPs, activations {_gb(g['activations_if_toggled'])} a sample)",
            f"  throughput: {s['samples_per_s_per_gpu']:,.1f} samples/s per GPU, {s['samples_per_s']:,.0f} in all; "
            f"{s['hours']:,.1f} h for the configured steps = {s['gpu_hours']:,.0f} GPU-hours",
            f"  epochs: {s['epochs']:.1f} (global batch {s['global_batch']}; an epoch is {ep['samples']:,} samples, "
            f"{ep['micro_batches_per_worker']:,} micro-batches per worker; {ep['dropped']} rows dropped to equal shards)",
            f"  store reads: {s['read_bytes_per_s_per_gpu'] / 1e6:,.0f} MB/s per GPU",
            f"  gradient traffic per GPU: {_gb(s['gradient_bytes_per_micro_step'])} a micro-step, "
            f"{_gb(s['gradient_bytes_per_step'])} a step with the parameter all-gather; "
            f"{s['gradient_bytes_per_s_per_gpu'] / GB:,.1f} GB/s to keep pace",
        ]
    return "\n".join(lines)
