"""VoiceFlow's shared contract: what a model is (contract, validator, schemas, versions) and where it lives (registry)."""

__version__ = "1.0.0"
