"""Scoring a model: DER metrics, held-out conversation sets, diarizing through the serving pipeline, timing."""
