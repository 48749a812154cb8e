"""m2t (Mutation2Text): describe protein mutations in English with ESM + gated cross-attention + Llama."""

__version__ = "0.1.0"
