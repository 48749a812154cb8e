"""Inference: generation from a checkpoint (describer, with its wild-type embedding cache), MutaPLM's metrics
(metrics, wordnet), evaluation (evaluate, report) and offline batch scoring on Ray Data (batch_score, scorer, scan, parts)."""
