"""`make bench-peers`: VoiceFlow beside the serving stacks a user would pick instead (KServe, MLServer, LitServe,
BentoML, Triton through PyTriton), the same ONNX file and ONNX Runtime settings, one load generator, in one run."""
