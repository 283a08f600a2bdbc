"""Serving-side benchmarks (no torch): bare ONNX Runtime, REST/OIP/WebSocket round trips, throughput, hot reload
under load and streaming capacity, each measured against a real server on 127.0.0.1.

The suite that runs them side by side is ``voiceflow_bench.suite`` (``make bench``); they never import torch.
"""
