"""Running a loaded ONNX model: the audio input rules, the ONNX Runtime session wrapper, the micro-batcher, one
counted batch run, and giving freed heap back to the OS. Knows nothing about versions, registries or reloads."""
