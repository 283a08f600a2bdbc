"""The contract validator: every rule is a named check with a status, what was measured and the limit.

Modules: :mod:`.rules` (the rule catalogue), :mod:`.static_checks` (file, parse, declared graph I/O),
:mod:`.probes` (the inputs fed to a model), :mod:`.runner` (time-bounded ONNX Runtime runs),
:mod:`.runtime_checks` (batch sizes and output values), :mod:`.measurement` (latency, host),
:mod:`.graph_walk` (every tensor and node, subgraphs included), :mod:`.runtime_stage` (the ONNX Runtime stage),
:mod:`.isolation` (that stage in a memory-limited child process: ``runtime.memory``) and
:mod:`.pipeline` (``validate_model_contract``, every rule in order).
"""

from voiceflow_contract.validator.pipeline import VALIDATOR_VERSION, validate_model_contract
from voiceflow_contract.validator.rules import BASE_RULES, RUNTIME_RULES, rule_names
from voiceflow_contract.validator.runner import RUN_TIMEOUT_S, RunTimeoutError

__all__ = [
    "BASE_RULES",
    "RUNTIME_RULES",
    "RUN_TIMEOUT_S",
    "VALIDATOR_VERSION",
    "RunTimeoutError",
    "rule_names",
    "validate_model_contract",
]
