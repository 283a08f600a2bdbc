"""Latency, accuracy (DER) and execution-provider benchmarks of exported models."""
