"""The model card of a checkpoint: ``README.md`` in the Hugging Face model-card format, written atomically.

The YAML front matter holds every fact as data: ``library_name``, ``base_model``, ``tags``, ``license``,
``datasets``, ``metrics`` and ``model-index`` (Hugging Face's keys), and ``m2t`` (the models by identity, the adapter
and LoRA sizes, the prompt template, the training data, steps, epochs and val loss, the evaluation, the effect score's
source). The Markdown body is rendered from the front matter alone, so that a card is rewritten whole when a fact is
added (``evaluate`` adds its metrics) and nothing ever parses its prose::

    write_card(ckpt, front_matter(read_meta(ckpt), ckpt, training=facts))  # the trainer, publishing a checkpoint
    add_evaluation(ckpt, files={"test": {"n": 40, "BLEU-2": 0.12, ...}}, generation={...})  # evaluate, after scoring
"""

from __future__ import annotations

import math
from pathlib import Path

import yaml
from safetensors import safe_open

from m2t.atomic import atomic_write_text
from m2t.model.checkpoint import ADAPTER, LORA, read_meta
from m2t.model.prompt import PromptFacts, user_text

CARD = "README.md"


def _parameters(path: Path) -> int:
    """Parameters stored in a safetensors file, read from its header (no tensor is loaded)."""
    with safe_open(str(path), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (no __iter__)


def license_of(llm: str) -> str:
    """The licence the base LLM puts on a model built on it: Llama 3.1's, Apache-2.0 for SmolLM2 and the tiny random
    Llama, else ``other`` (the card names the base models; their terms apply)."""
    if llm.startswith("meta-llama/") and "3.1" in llm:
        return "llama3.1"
    return "apache-2.0" if llm == "tiny" or "smollm2" in llm.lower() else "other"


def front_matter(meta: dict, ckpt_dir: str | Path, *, training: dict | None = None) -> dict:
    """The card's front matter for checkpoint ``ckpt_dir`` with metadata ``meta`` (``m2t_model.json``);
    ``training``: what the trainer knows of the run (data, rows, split, steps, epochs, val loss)."""
    cfg, builder, stage = meta["config"], meta["builder"], meta["stage"]
    model, encoder = cfg["model"], cfg["encoder"]
    lora_dir = Path(ckpt_dir) / LORA
    user = user_text(
        fields=model["prompt_fields"],
        instruction=model["instruction"],
        facts=PromptFacts(mutations=("R175H",), protein_name="{protein_name}", function="{function}"),
    )
    inputs = (training or {}).get("data", {}).get("inputs") or []
    facts = {
        "stage": stage,
        "m2t_version": meta.get("m2t_version"),
        "llm": {
            "id": model["llm"],
            "dtype": model["dtype"],
            **({"tiny": model["tiny_llm"]} if model["llm"] == "tiny" else {}),
        },
        "encoder": {
            "id": builder["encoder_id"],
            "backend": encoder["backend"],
            "name": encoder["name"],
            "dim": builder["dim_in"],
        },
        "adapter": {
            "parameters": _parameters(Path(ckpt_dir) / ADAPTER),
            "num_media_tokens": builder["num_media_tokens"],
            "dim_llm": builder["dim_llm"],
            "gca": model["gca"],
            "resampler": model["resampler"],
            "projector": model["projector"],
        },
        "lora": None
        if not lora_dir.is_dir()
        else {
            "parameters": _parameters(lora_dir / "adapter_model.safetensors"),
            **{k: cfg["lora"][k] for k in ("r", "alpha", "dropout", "target_modules")},
        },
        "prompt": {
            "system": model["system_prompt"],
            "user": f"{model['delta_token']}\n{user}" if model.get("use_protein", True) else user,
            "delta_token": model["delta_token"],
        },
        "training": training,
        "evaluation": None,
        "effect_score": {"source": builder["encoder_id"], "learned": False},
    }
    return {
        "library_name": "m2t",
        "base_model": model["llm"],
        "license": license_of(model["llm"]),
        "tags": [
            "m2t",
            "protein",
            "mutation-effect",
            "text-generation",
            encoder["backend"],
            *(["lora"] * bool(facts["lora"])),
        ],
        "datasets": [Path(str(p)).name for p in inputs] or ["synthetic"],
        "metrics": ["loss"] if (training or {}).get("val_loss") is not None else [],
        "model-index": [{"name": f"m2t-{stage}", "results": _results(facts)}],
        "m2t": facts,
    }


def _result(dataset: str, metrics: list[dict]) -> dict:
    task = {"type": "text-generation", "name": "Mutation description"}
    return {"task": task, "dataset": {"name": dataset, "type": "m2t-records"}, "metrics": metrics}


def _results(facts: dict) -> list[dict]:
    """``model-index`` results: the val loss of training, then each evaluated file's metrics."""
    out = []
    if (facts["training"] or {}).get("val_loss") is not None:
        out.append(_result("val split", [{"type": "loss", "value": facts["training"]["val_loss"], "name": "val loss"}]))
    for name, scores in ((facts["evaluation"] or {}).get("files") or {}).items():
        metrics = [{"type": _type(k), "value": v, "name": k} for k, v in scores.items() if k != "n"]
        out.append(_result(name, metrics))
    return out


def _type(metric: str) -> str:
    """Hugging Face's metric id of a metric's display name: BLEU-4 -> bleu, ROUGE-L -> rouge, METEOR -> meteor."""
    return metric.split("-")[0].lower()


def _settings(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def render(front: dict) -> str:
    """The whole README.md: the front matter, then the body written from it."""
    f = front["m2t"]
    llm, enc, adapter, lora, t = f["llm"], f["encoder"], f["adapter"], f["lora"], f["training"]
    lines = [
        f"# m2t {f['stage']} checkpoint: {llm['id']} + {enc['id']}",
        "",
        "Mutation2Text reads a wild-type and a mutant protein sequence and writes, in English, what the mutation does.",
        f"A protein language model ({enc['id']}, {enc['dim']}-d) embeds both sequences; a gated cross-attention, a "
        f"Perceiver resampler and a {adapter['projector']} projector ({adapter['parameters']:,} parameters) turn them "
        f"into {adapter['num_media_tokens']} vectors in the {adapter['dim_llm']}-d embedding space of the chat LLM "
        f"{llm['id']}, where they replace `{f['prompt']['delta_token']}` in its prompt.",
        "",
        "## Model",
        f"- LLM: `{llm['id']}` ({llm['dtype']}); encoder: `{enc['id']}` ({enc['backend']}, `{enc['name']}`).",
        f"- Adapter: gated cross-attention ({_settings(adapter['gca'])}), resampler ({_settings(adapter['resampler'])}), "
        f"{adapter['parameters']:,} parameters.",
        f"- LoRA: r={lora['r']}, alpha={lora['alpha']}, dropout={lora['dropout']}, on {', '.join(lora['target_modules'])} "
        f"({lora['parameters']:,} parameters)."
        if lora
        else "- LoRA: none (a stage-1 checkpoint: the LLM is frozen).",
        "- Prompt (system, then user; the protein vectors take the place of the delta token):",
        "",
        "```",
        f["prompt"]["system"],
        "---",
        f["prompt"]["user"],
        "```",
        "",
        "## Training",
    ]
    if t:
        rows = ", ".join(f"{k} {v:,}" for k, v in t["data"]["rows"].items())
        split = t["data"]["split"]
        lines += [
            f"- Data: {', '.join(t['data']['inputs']) or 'the synthetic set (labelled synthetic)'}; rows: {rows}.",
            f"- Split by protein: val {split['val_fraction']}, test {split['test_fraction']}, seed {split['seed']}.",
            f"- {t['steps']:,} steps ({t['epochs']} epochs at a global batch of {t['global_batch']}), run `{t['run_name']}`.",
            f"- Val loss: {t['val_loss']:.4f}." if t["val_loss"] is not None else "- Val loss: none (no val split).",
        ]
    else:
        lines.append("- Not recorded: this checkpoint was not published by `m2t pretrain` / `m2t finetune`.")
    lines += ["", "## Evaluation"]
    ev = f["evaluation"]
    if ev:
        names = [k for k in next(iter(ev["files"].values())) if k != "n"]
        lines += ["| file | n | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
        for file, s in ev["files"].items():
            lines.append(f"| {file} | {s['n']} | " + " | ".join(f"{100 * s[k]:.2f}" for k in names) + " |")
        lines.append(f"\nScores x100 (MutaPLM's metrics), by `m2t evaluate` ({_settings(ev['generation'])}).")
    else:
        lines.append("- Not evaluated yet: `m2t evaluate --checkpoint DIR` adds its metrics here.")
    lines += [
        "",
        "## Intended use and limitations",
        "- For research: a hypothesis about a mutation's effect, to check against the literature and experiments; not "
        "for clinical or diagnostic use.",
        "- The descriptions are only as good as the training data and steps above; a model trained on synthetic data "
        "or for few steps writes text that shows the machinery working, not biology.",
        f"- The effect score printed beside each description is not predicted by this model: it is the protein "
        f"encoder's zero-shot score ({f['effect_score']['source']}), computed from the encoder's output alone; training "
        f"this model does not change it.",
        f"- The base models' own licences apply ({llm['id']}; {enc['id']}).",
    ]
    return f"---\n{yaml.safe_dump(front, sort_keys=False, allow_unicode=True)}---\n\n" + "\n".join(lines) + "\n"


def write_card(ckpt_dir: str | Path, front: dict) -> Path:
    """Write ``README.md`` into ``ckpt_dir`` atomically."""
    return atomic_write_text(Path(ckpt_dir) / CARD, render(front))


def read_card(ckpt_dir: str | Path) -> dict | None:
    """The front matter of ``ckpt_dir``'s card, None when it has none."""
    path = Path(ckpt_dir) / CARD
    if not path.is_file():
        return None
    text = path.read_text()
    if not text.startswith("---\n"):
        return None
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def add_evaluation(ckpt_dir: str | Path, *, files: dict[str, dict], generation: dict) -> Path:
    """Put an evaluation into ``ckpt_dir``'s card (made from its metadata when it has none): per file, ``n`` and each
    metric by its display name (``{"n": 40, "BLEU-2": 0.12, ...}``, fractions), and the decoding settings."""
    front = read_card(ckpt_dir) or front_matter(read_meta(ckpt_dir), ckpt_dir)
    front["m2t"]["evaluation"] = {"files": files, "generation": generation}
    types = {_type(k) for scores in files.values() for k in scores if k != "n"}
    front["metrics"] = sorted({*front["metrics"], *types})
    front["model-index"][0]["results"] = _results(front["m2t"])
    return write_card(ckpt_dir, front)
