"""Open Inference Protocol v2 (KServe / Triton REST): wire types and the JSON / binary-tensor codec."""
