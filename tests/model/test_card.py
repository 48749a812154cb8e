"""The model card of a checkpoint: Hugging Face front matter that holds every fact as data, written whole, kept in
step by evaluate; the tests read the front matter only, never the prose."""

from __future__ import annotations

import pytest
import torch
import yaml

from m2t.atomic import publish_dir
from m2t.config import load_config
from m2t.encoders import tiny_encoder_id
from m2t.model import build_model, load_checkpoint, read_meta, save_checkpoint
from m2t.model.card import CARD, add_evaluation, front_matter, read_card, write_card

TRAINING = {
    "run_name": "finetune-0123456789",
    "data": {
        "inputs": ["/data/train.csv"],
        "rows": {"train": 200, "val": 20, "test": 0},
        "split": {"by": "protein", "val_fraction": 0.1, "test_fraction": 0.0, "seed": 0},
    },
    "steps": 40,
    "epochs": 3.2,
    "global_batch": 16,
    "val_loss": 2.5,
}
SCORES = {"n": 3, "BLEU-2": 0.1, "BLEU-4": 0.05, "METEOR": 0.2, "ROUGE-1": 0.3, "ROUGE-2": 0.1, "ROUGE-L": 0.25}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = load_config(None, ["encoder.backend=esm2", "lora.r=4", "model.prompt_fields=[protein_name,mutation]"])
    torch.manual_seed(0)
    model = build_model(cfg, stage="finetune", dim_in=64, encoder_id=tiny_encoder_id(cfg.encoder))
    path = save_checkpoint(model, cfg, tmp_path_factory.mktemp("card") / "checkpoint")
    lora = sum(p.numel() for n, p in model.llm.named_parameters() if "lora_" in n)
    return path, sum(p.numel() for p in model.adapter.parameters()), lora


def test_front_matter_holds_the_facts_in_hugging_faces_keys(checkpoint, tmp_path):
    path, adapter_params, lora_params = checkpoint
    write_card(path, front_matter(read_meta(path), path, training=TRAINING))
    text = (path / CARD).read_text()
    assert text.startswith("---\n") and yaml.safe_load(text.split("---\n")[1]) == read_card(path)
    card = read_card(path)
    assert (card["library_name"], card["base_model"], card["license"]) == ("m2t", "tiny", "apache-2.0")
    assert card["datasets"] == ["train.csv"] and card["metrics"] == ["loss"]
    assert {"m2t", "protein", "esm2", "lora"} <= set(card["tags"])
    facts = card["m2t"]
    assert facts["llm"]["id"] == "tiny" and facts["encoder"]["id"] == "esm2:tiny:d64-l2-h4-seed0"
    assert facts["adapter"]["parameters"] == adapter_params and facts["adapter"]["num_media_tokens"] == 8
    assert facts["lora"]["parameters"] == lora_params > 0 and facts["lora"]["r"] == 4
    assert facts["prompt"]["user"] == (
        "<delta_P>\nProtein: {protein_name}\nMutation: R175H (arginine to histidine at position 175)\n"
        "Describe the effect of this mutation."
    )
    assert facts["training"] == TRAINING and facts["evaluation"] is None
    assert facts["effect_score"] == {"source": "esm2:tiny:d64-l2-h4-seed0", "learned": False}
    (result,) = card["model-index"][0]["results"]
    assert result["metrics"] == [{"type": "loss", "value": 2.5, "name": "val loss"}]
    assert not list(path.glob(".tmp-*")) and load_checkpoint(path, stage="infer")  # the card changes no loading


def test_evaluate_adds_its_metrics_and_keeps_the_rest(checkpoint):
    path, _, _ = checkpoint
    write_card(path, front_matter(read_meta(path), path, training=TRAINING))
    before = read_card(path)
    add_evaluation(path, files={"test": SCORES}, generation={"max_new_tokens": 8})
    card = read_card(path)
    assert card["m2t"]["evaluation"] == {"files": {"test": SCORES}, "generation": {"max_new_tokens": 8}}
    assert card["m2t"]["training"] == before["m2t"]["training"] and card["metrics"] == [
        "bleu",
        "loss",
        "meteor",
        "rouge",
    ]
    loss, test = card["model-index"][0]["results"]
    assert test["dataset"]["name"] == "test" and {m["name"]: m["value"] for m in test["metrics"]}["BLEU-4"] == 0.05
    assert loss["metrics"][0]["value"] == 2.5


def test_a_checkpoint_without_a_card_gets_one_from_its_metadata(checkpoint, tmp_path):
    path, _, _ = checkpoint
    write_card(path, front_matter(read_meta(path), path, training=TRAINING))
    bare = tmp_path / "bare"
    publish_dir(path, bare, fill=lambda copy: (copy / CARD).unlink())  # the fill runs on the copy before the swap
    assert read_card(bare) is None and (path / CARD).is_file()
    add_evaluation(bare, files={"test": SCORES}, generation={})
    card = read_card(bare)
    assert card["m2t"]["training"] is None and card["m2t"]["evaluation"]["files"] == {"test": SCORES}
    assert card["datasets"] == ["synthetic"] and [r["dataset"]["name"] for r in card["model-index"][0]["results"]] == [
        "test"
    ]
