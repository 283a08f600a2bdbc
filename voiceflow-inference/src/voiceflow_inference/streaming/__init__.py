"""Streaming diarization (`/ws/diarize`): the connection handler, audio decoding/resampling, per-session state,
the session tracker and graceful shutdown, and the WebSocket message schemas."""
