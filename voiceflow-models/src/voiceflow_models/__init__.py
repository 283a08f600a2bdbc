"""VoiceFlow training package."""
