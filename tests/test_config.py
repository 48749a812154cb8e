"""Config files and the loader: every shipped file validates; errors name the key, the file and the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from m2t.config import (
    CONFIGS_DIR,
    DEFAULT_CONFIG,
    REPO_ROOT,
    Config,
    ConfigError,
    Section,
    load_config,
)
from m2t.errors import InputError
from m2t.shipped import copy_config, listing

CONFIGS = REPO_ROOT / "jobs" / "configs"  # the link to m2t/configs that the repo's docs and scripts name
SECTIONS = set(Config.model_fields)


def kind_of(path: Path) -> str:
    if path.suffix == ".json":
        return "deepspeed"
    data = yaml.safe_load(path.read_text())
    if "applications" in data:
        return "serve"
    return "m2t" if set(data) <= SECTIONS else "unknown"


@pytest.mark.parametrize("path", sorted(CONFIGS.iterdir()), ids=lambda p: p.name)
def test_every_shipped_config_file_validates(path):
    kind = kind_of(path)
    assert kind != "unknown", f"{path.name}: neither an m2t config, a Ray Serve config nor a DeepSpeed JSON"
    if kind == "deepspeed":
        assert json.loads(path.read_text())["zero_optimization"]["stage"] == 2
    elif kind == "serve":
        for app in ServeDeploySchema.model_validate(yaml.safe_load(path.read_text())).applications:
            assert app.import_path == "m2t.serve.app:build_app"
            assert isinstance(load_config(REPO_ROOT / app.args["config"]), Config)
    else:
        cfg = load_config(path)
        header = [line for line in path.read_text().splitlines() if line.startswith("#")][:6]
        runs = re.compile(r"\b(m2t [a-z-]+|jobs/\w+\.py)")
        assert any(runs.search(line) for line in header), f"{path.name} does not open with the command that runs it"
        assert any(re.search(r"\b[a-z_]+(\.[a-z_]+)+=\S", line) for line in header), f"{path.name}: no override example"
        assert Path(cfg.deepspeed.config).is_file()


def test_default_is_tiny_and_llama3_esm3_is_the_real_setup():
    assert load_config(None) == load_config(DEFAULT_CONFIG)
    real = load_config(CONFIGS / "llama3_esm3.yaml")
    assert (real.model.llm, real.encoder.name, real.model.dtype) == (
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "esm3_sm_open_v1",
        "bfloat16",
    )
    assert json.loads(Path(real.deepspeed.config).read_text())["zero_optimization"]["stage"] == 2


def test_unknown_key_names_key_file_and_closest_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  max_lenght: 500\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: unknown key 'data.max_lenght'; did you mean 'max_length'?" in str(err.value)
    with pytest.raises(
        ConfigError, match=r"\(\+ overrides\): unknown key 'trian'; did you mean 'train'(, 'tracking')?\?"
    ):
        load_config(None, ["trian.seed=1"])


def test_all_errors_reported_at_once(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data:\n  max_length: -3\n  val_fractoin: 0.2\nmodel:\n  num_media_tokens: many\nencoder:\n  backend: esm9\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert text.startswith("4 config error(s):")
    for words in [
        "'data.max_length'",
        "'data.val_fractoin'; did you mean 'val_fraction'",
        "'model.num_media_tokens'",
        "'encoder.backend'",
        "'esm3', 'esmc' or 'esm2'",
    ]:
        assert words in text, text
    assert text.count(str(path)) == 4


def test_relative_paths_resolve_against_the_config_file_and_overrides_against_the_cwd(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "c.yaml"
    path.write_text(
        "data:\n  inputs: [in/a.jsonl, /abs/b.csv]\ndeepspeed:\n  config: zero2.json\n"
        "train:\n  storage_path: s3://bucket/runs\noutput:\n  root: ../out\n"
    )
    cfg = load_config(path)
    assert cfg.data.inputs == [conf / "in" / "a.jsonl", Path("/abs/b.csv")]
    assert cfg.deepspeed.config == conf / "zero2.json"
    assert cfg.train.storage_path == "s3://bucket/runs"
    assert cfg.stage_dir("data") == tmp_path / "out" / "data"
    monkeypatch.chdir(tmp_path)
    over = load_config(path, ["data.inputs=[x.jsonl]", "output.root=elsewhere"])
    assert over.data.inputs == [tmp_path / "x.jsonl"] and over.output.root == tmp_path / "elsewhere"


def test_a_shipped_config_is_found_by_name_and_resolves_against_the_cwd(tmp_path, monkeypatch):
    """Wherever the package lives (a wheel's site-packages), a shipped config writes under the working directory."""
    monkeypatch.chdir(tmp_path)
    by_name, by_file, by_link = (
        load_config("tiny"),
        load_config(CONFIGS_DIR / "tiny.yaml"),
        load_config(CONFIGS / "tiny.yaml"),
    )
    assert by_name == by_file == by_link == load_config(None)
    assert by_name.output.root == tmp_path / "outputs" and by_name.embed.store == str(
        tmp_path / "outputs" / "embeddings"
    )
    assert load_config("llama3_esm3.yaml").data.inputs == [tmp_path / "data" / "mutadescribe" / "train.csv"]
    (tmp_path / "tiny").write_text("output: {root: mine}\n")  # a file of that name is the file, not the shipped one
    assert load_config("tiny").output.root == tmp_path / "mine"
    with pytest.raises(ConfigError, match=r"config file not found: tny \(nor is it a shipped config: .*tiny"):
        load_config("tny")


def test_a_copied_config_points_where_the_shipped_one_does_from_where_it_was_copied(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp").mkdir()
    here, there = copy_config("smollm2_mutadescribe", tmp_path), copy_config("smollm2_mutadescribe", "exp/s.yaml")
    assert here.read_text() == (CONFIGS_DIR / "smollm2_mutadescribe.yaml").read_text()  # same dir: byte for byte
    text = there.read_text()
    assert "  root: ../outputs" in text and "- ../../shared/data/mutadescribe/val_sample.csv" in text
    assert "  llm: ../.cache/llm/SmolLM2-135M-Instruct" in text and text.count("\n#") == here.read_text().count("\n#")
    monkeypatch.chdir(tmp_path / "exp")  # run from anywhere: the copy still points at the same places
    assert load_config(there) == load_config(here)
    assert copy_config("zero2.json", tmp_path / "exp").read_text() == (CONFIGS_DIR / "zero2.json").read_text()
    with pytest.raises(InputError, match="already exists"):
        copy_config("tiny", here)
    with pytest.raises(InputError, match="'tinyy' is not a shipped config; the shipped ones are: .*tiny.yaml"):
        copy_config("tinyy", tmp_path)
    kinds = {e["name"]: e["kind"] for e in listing()}
    assert kinds == {path.name: kind_of(path).replace("serve", "ray-serve") for path in CONFIGS.iterdir()}


def test_model_llm_is_a_hub_id_or_a_local_dir(tmp_path, monkeypatch):
    """A value starting with '.', '/' or '~' is a directory (relative to the file; overrides: to the cwd);
    anything else, 'tiny' included, stays a hub id."""
    conf = tmp_path / "conf"
    conf.mkdir()
    path = conf / "c.yaml"
    path.write_text("model:\n  llm: ../llm/SmolLM2\n")
    assert load_config(path).model.llm == str(tmp_path / "llm" / "SmolLM2")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_config(path, ["model.llm=./here"]).model.llm == str(tmp_path / "here")
    assert load_config(path, ["model.llm=~/m"]).model.llm == str(tmp_path / "home" / "m")
    assert load_config(path, ["model.llm=/abs/m"]).model.llm == "/abs/m"
    for hub_id in ("meta-llama/Meta-Llama-3.1-8B-Instruct", "tiny"):
        assert load_config(path, [f"model.llm={hub_id}"]).model.llm == hub_id
    path.write_text("model:\n  llm: HuggingFaceTB/SmolLM2-135M-Instruct\n")
    assert load_config(path).model.llm == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_overrides_are_parsed_as_yaml_and_applied_in_order():
    cfg = load_config(
        None,
        [
            "data.max_length=500",
            "data.extended_alphabet=true",
            "lora.target_modules=[q_proj]",
            "data.max_length=600",
            'model.system_prompt="Be brief: one line."',
        ],
    )  # YAML: quote text with ': '
    assert (cfg.data.max_length, cfg.data.extended_alphabet, cfg.lora.target_modules) == (600, True, ["q_proj"])
    assert cfg.model.system_prompt == "Be brief: one line."


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.max_length"], "not of the form key.sub=value"),
        (["data.max_length.x=1"], "'max_length' is not a section"),
        (["data.val_fraction=0.6", "data.test_fraction=0.5"], "must be below 1"),
        (["data.synthetic.min_length=200"], "max_length (120) must be >= min_length (200)"),
        (["data.max_length=0"], "'data.max_length': Input should be greater than or equal to 1"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert message in str(err.value)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_every_field_has_a_description():
    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{prefix}{name} has no description"
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, Section):
                walk(ann, f"{prefix}{name}.")

    walk(Config)


def test_a_config_without_a_deepspeed_section_gets_the_shipped_zero2(tmp_path):
    """Defaults are not resolved against the config file: the DeepSpeed default is the shipped file itself."""
    (tmp_path / "mine.yaml").write_text("train: {num_workers: 1}\n")
    assert load_config(tmp_path / "mine.yaml").deepspeed.config == CONFIGS_DIR / "zero2.json"


def test_object_storage_only_where_it_works_and_refused_by_key_elsewhere(tmp_path, monkeypatch):
    """embed.store and train.storage_path take s3:// and gs:// (kept as is); every other path key refuses a URI
    at load, naming the key, instead of turning 's3://b/x' into a local directory 's3:/b/x'."""
    path = tmp_path / "c.yaml"
    path.write_text("embed:\n  store: s3://bucket/emb\ntrain:\n  storage_path: gs://bucket/runs\n")
    cfg = load_config(path)
    assert (cfg.embed.store, cfg.train.storage_path) == ("s3://bucket/emb", "gs://bucket/runs")
    monkeypatch.chdir(tmp_path)
    assert load_config(path, ["embed.store=gs://b/e"]).embed.store == "gs://b/e"
    assert load_config(path, ["embed.store=local/e"]).embed.store == str(tmp_path / "local" / "e")
    refused = {
        "output.root": "s3://bucket/out",
        "data.inputs": "[s3://bucket/train.csv]",
        "deepspeed.config": "gs://bucket/zero2.json",
    }
    for key, value in refused.items():
        with pytest.raises(
            ConfigError, match=rf"'{key}(\.0)?': Value error, (s3|gs):// is not supported for this key"
        ) as err:
            load_config(path, [f"{key}={value}"])
        assert "shared file system" in str(err.value) and "embed.store and train.storage_path" in str(err.value)
    path.write_text("output:\n  root: s3://bucket/out\ndata:\n  inputs: [gs://b/x.csv]\n")
    with pytest.raises(ConfigError, match=r"2 config error\(s\)") as err:
        load_config(path)
    assert "'output.root'" in str(err.value) and "'data.inputs.0'" in str(err.value)
    with pytest.raises(ConfigError, match="'model.llm': .*not a URI"):
        load_config(None, ["model.llm=s3://bucket/llama"])
    with pytest.raises(ConfigError, match="'embed.store': .*malformed storage URI; write it as s3://bucket/prefix"):
        load_config(None, ["embed.store=s3:/bucket/emb"])  # one slash: a typo, not a local directory 's3:'
    with pytest.raises(ConfigError, match="'train.storage_path': .*hdfs:// is not a supported storage"):
        load_config(None, ["train.storage_path=hdfs://namenode/runs"])


def test_the_serve_app_arguments_refuse_uris_too():
    from pydantic import ValidationError

    from m2t.serve.app import AppArgs

    with pytest.raises(ValidationError, match="s3:// is not supported for this key"):
        AppArgs.model_validate({"checkpoint": "s3://bucket/finetune/checkpoint"})
    assert (
        AppArgs.model_validate({"checkpoint": "outputs/finetune/checkpoint"}).checkpoint
        == "outputs/finetune/checkpoint"
    )
