"""The one ONNX Runtime session every peer server script builds (run by the peers' interpreters, which have
onnxruntime and numpy but not our packages): 1 intra-op and 1 inter-op thread, sequential execution, CPU provider,
full graph optimisation, as ``voiceflow_contract.runtime.session_options`` configures the server's session."""

from __future__ import annotations

import onnxruntime as ort


def create_session(path: str, threads: int = 1) -> ort.InferenceSession:
    """A CPU session on ``path`` with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
