"""VoiceFlow inference service (never imports torch)."""

__version__ = "1.0.0"
