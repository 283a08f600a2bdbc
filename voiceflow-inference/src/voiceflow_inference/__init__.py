"""VoiceFlow inference service (never imports torch)."""
