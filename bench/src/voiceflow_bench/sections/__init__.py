"""The suite's sections, one module each: model, serving overhead, throughput (and micro-batching), streaming, hot
reload and GPU. Each adds its rows and raw results to a :class:`~voiceflow_bench.recorder.Recorder`."""
