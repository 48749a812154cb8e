"""Request and response bodies of the HTTP API (pydantic; FastAPI turns them into the OpenAPI at /docs).

Limits that come from the config (sequence length, alphabet, ``max_new_tokens`` ceiling, batch
size) are checked by :mod:`m2t.serve.prepare`, which answers 422 with the same error shape as
FastAPI's own validation: ``{"detail": [{"loc": ["body", "mutations"], "msg": ..., "type": ...}]}``; the served
OpenAPI states them too (:mod:`m2t.serve.contract`), so a client generated from ``/openapi.json`` can check before it
sends. Request bodies are strict: JSON types are never converted (``false`` is not 0, ``5`` is not ``"5"``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class FieldError(ValueError):
    """One or more invalid fields; ``errors`` is FastAPI's list of ``{loc, msg, type, input}``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, loc: tuple[str | int, ...], msg: str, value: Any) -> FieldError:
        return cls([{"loc": list(loc), "msg": msg, "type": "value_error", "input": value}])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# "Exactly one of mutations or mutant", in the schema itself (the Python check is _exactly_one below): a request
# matches exactly one of these when it gives exactly one of the two fields with a value.
_ONE_OF = [
    {
        "title": "By notation",
        "required": ["mutations"],
        "properties": {"mutations": {"not": {"type": "null"}}},
    },
    {
        "title": "By mutant sequence",
        "required": ["mutant"],
        "properties": {"mutant": {"not": {"type": "null"}}},
    },
]
_WT = "MKTAYIAKQRQISFVKSHFSRQ"
# Whole request bodies, each one the API accepts with the default config (tests/serve/test_webpage.py posts every one).
DESCRIBE_EXAMPLES: dict[str, dict[str, Any]] = {
    "notation": {"summary": "One substitution, in notation", "value": {"wild_type": _WT, "mutations": "K2R"}},
    "several": {
        "summary": "Several mutations (HGVS-style and a deletion), a token budget",
        "value": {"wild_type": _WT, "mutations": ["p.Lys2Arg", "A4del"], "max_new_tokens": 64},
    },
    "mutant": {
        "summary": "The mutant sequence instead of notation, with a label and the protein's name",
        "value": {"id": "my-variant-7", "wild_type": "MKTAYIAKQR", "mutant": "MKTAYIAKQW", "protein_name": "demo"},
    },
}
BATCH_EXAMPLES: dict[str, dict[str, Any]] = {
    "two": {
        "summary": "Two items: one by notation, one by mutant sequence",
        "value": {
            "items": [
                {"id": "a", "wild_type": "MKTAYIAKQR", "mutations": ["K2R", "A4del"]},
                {"id": "b", "wild_type": "MKTAYIAKQR", "mutant": "MKTAYIAKQW"},
            ]
        },
    }
}


def _whole_number(value: Any) -> Any:
    """JSON Schema's integer includes 8.0: taken as 8 (anything else is left for the strict check to refuse)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class DescribeRequest(_Body):
    """One wild type plus its mutation, given either as notation (`mutations`) or as the mutant sequence (`mutant`):
    exactly one of the two."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"oneOf": _ONE_OF, "examples": [e["value"] for e in DESCRIBE_EXAMPLES.values()]}
    )

    id: str | None = Field(None, max_length=256, description="Client's label for this item, echoed in the response.")
    wild_type: str = Field(..., min_length=1, description="Wild-type amino-acid sequence (one-letter codes).")
    mutations: Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(min_length=1)] | None = Field(
        None,
        description="1-based notation: 'R175H' (or 'p.Arg175His'), 'K20del', 'K20_L22del', 'G12_G13insA'; "
        "several as a list or in one string separated by ';', ',', '/' or spaces.",
    )
    mutant: str | None = Field(None, min_length=1, description="The full mutant sequence (instead of `mutations`).")
    protein_name: str | None = Field(
        None,
        max_length=1000,
        description="The protein's name; stated in the prompt when the model was trained with it.",
    )
    function: str | None = Field(
        None,
        max_length=20_000,
        description="The wild type's function (e.g. UniProt's text); stated in the prompt when the model was trained "
        "with it.",
    )
    max_new_tokens: Annotated[int, Field(ge=1), BeforeValidator(_whole_number)] | None = Field(
        None, description="Tokens to generate (default: the server's generation.max_new_tokens)."
    )
    temperature: float | None = Field(
        None, ge=0, description="0 = greedy (so is anything under 1e-5; default: the server's generation.temperature)."
    )
    top_p: float | None = Field(
        None, gt=0, le=1, description="Nucleus sampling mass (default: the server's generation.top_p)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> DescribeRequest:
        if (self.mutations is None) == (self.mutant is None):
            raise ValueError("give exactly one of 'mutations' (notation) or 'mutant' (full sequence)")
        return self


class BatchRequest(_Body):
    """Several items; they are batched with each other and with concurrent requests."""

    model_config = ConfigDict(
        strict=True, json_schema_extra={"examples": [e["value"] for e in BATCH_EXAMPLES.values()]}
    )

    items: list[DescribeRequest] = Field(
        ..., min_length=1, description="Items to describe (at most serve.max_batch_items)."
    )


class Timings(_Body):
    queue_ms: float = Field(..., description="From the request's arrival at the replica to the start of its batch.")
    encode_ms: float = Field(
        ..., description="Protein encoder time of the batch (wild types from the LRU cache cost nothing)."
    )
    generate_ms: float = Field(..., description="LLM generation time of the batch.")
    total_ms: float = Field(..., description="From arrival to the answer.")
    batch_size: int = Field(
        ..., description="Items generated together with this one (dynamic batching across requests)."
    )


class DescribeResponse(_Body):
    id: str | None = Field(None, description="The request's id, if it gave one.")
    description: str = Field(..., description="What the mutation does, in English (generated).")
    mutations: list[str] = Field(..., description="Normalised 1-based notation of the mutation(s).")
    window_start: int | None = Field(
        None,
        description="When the pair was longer than the encoder takes: the 1-based wild-type position where the window "
        "the encoder saw starts (positions everywhere else are full-length). Null when nothing was cropped.",
    )
    effect_score: float | None = Field(
        None,
        description="Zero-shot effect score of the protein encoder, natural log; 0 = as likely as the wild type, "
        "negative = less likely. UniRep: log p(mutant) - log p(wild type) under its next-residue head (substitutions, "
        "insertions, deletions). ESM: the wild-type marginal (ESM-1v), null for insertions and deletions. Null with "
        "the reason in `effect_score_note`; the method in `effect_score_source` (in full: GET /v1/model).",
    )
    effect_score_note: str | None = Field(None, description="Why `effect_score` is null; null when there is a score.")
    effect_score_source: str = Field(
        ...,
        description="Where the score comes from: method (encoder id), e.g. 'unirep-llr (unirep:64)'; ends in 'RANDOM "
        "WEIGHTS, meaningless' when the encoder is a random twin.",
    )
    effect_score_warning: str | None = Field(
        None, description="Set when the encoder's weights are random: the score is noise and means nothing."
    )
    model: str = Field(..., description="The model that wrote it (see GET /v1/model).")
    timings: Timings


class BatchResponse(_Body):
    items: list[DescribeResponse] = Field(..., description="One answer per item, in request order.")


class Health(_Body):
    status: Literal["ok"] = "ok"


class Limits(_Body):
    max_length: int = Field(..., description="Longest accepted sequence, in residues.")
    extended_alphabet: bool = Field(
        ..., description="Whether X, B, Z, U and O are accepted besides the 20 standard amino acids."
    )
    max_new_tokens_limit: int = Field(..., description="Largest max_new_tokens a request may ask for.")
    max_batch_items: int = Field(..., description="Most items in one /v1/describe:batch request.")
    max_body_bytes: int = Field(..., description="Largest request body (413 above).")
    max_batch_size: int = Field(..., description="Most items in one batched generate (@serve.batch).")
    batch_wait_timeout_s: float = Field(..., description="How long a batch waits for more requests.")


class CacheStats(_Body):
    size: int
    capacity: int
    hits: int
    misses: int


class Stats(_Body):
    """Counters of the replica that answered (each replica keeps its own)."""

    items: int = Field(..., description="Items described since the replica started.")
    batches: int = Field(..., description="Batched generate rounds run.")
    batch_sizes: dict[int, int] = Field(..., description="Histogram: batch size -> number of batches of that size.")
    max_batch_size_seen: int = Field(..., description="Largest batch run so far.")
    wt_cache: CacheStats = Field(..., description="LRU cache of wild-type embeddings.")
    encoded_sequences: int = Field(
        ..., description="Sequences run through the protein encoder (cache misses and mutants)."
    )
    encoder_batches: int = Field(..., description="Calls of the protein encoder (each embeds a list of sequences).")
    requests_inside: int = Field(0, description="Items in the replica now: at the batch gate, queued or generating.")
    waiting_at_gate: int = Field(0, description="Of those, the items waiting at the batch gate for the next batch.")


class EffectScoreInfo(_Body):
    method: str = Field(..., description="'unirep-llr' (UniRep's log-likelihood ratio) or 'esm-wt-marginal' (ESM-1v).")
    encoder_id: str = Field(..., description="The encoder whose head gives the score.")
    random_weights: bool = Field(..., description="True for a seeded random twin: the scores mean nothing.")
    warning: str | None = Field(None, description="What to tell a reader when the weights are random.")
    about: str = Field(..., description="How the score is computed, and which positions it sums.")


class ModelInfo(_Body):
    model: str = Field(..., description="Name used in the responses' `model` field.")
    base_llm: str = Field(..., description="Base causal LM the adapters and LoRA sit on.")
    encoder_id: str = Field(..., description="Protein encoder (architecture and weights).")
    effect_score_method: str = Field(
        ..., description="How `effect_score` is computed: 'unirep-llr' or 'esm-wt-marginal' (ESM-1v)."
    )
    effect_score: EffectScoreInfo = Field(..., description="The score's source in full.")
    checkpoint: str = Field(..., description="Checkpoint directory being served.")
    num_media_tokens: int = Field(..., description="Protein vectors spliced into the prompt.")
    device: str = Field(..., description="Where the model runs.")
    limits: Limits
    stats: Stats
