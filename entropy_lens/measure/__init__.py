"""Measure: load a model, sample or teacher-force responses, and record the exact entropy and
log-prob of every response token (the producer of the rollout table)."""
