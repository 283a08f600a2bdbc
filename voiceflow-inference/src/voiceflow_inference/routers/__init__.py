"""HTTP route handlers: health, REST inference, Open Inference Protocol v2, admin, metrics and the WebSocket mount.

Wire types and codecs: ``voiceflow_inference.protocol``; shared dependencies: ``voiceflow_inference.dependencies``.
"""
