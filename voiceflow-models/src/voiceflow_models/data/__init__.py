"""Data: synthetic voices and conversations, real corpora (audio + RTTM, LibriSpeech), datasets and the datamodule."""
