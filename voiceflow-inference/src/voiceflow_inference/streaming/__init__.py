"""Streaming diarization: audio decoding/resampling, per-session state, and the WebSocket message schemas."""
