"""Training: Hydra entry points, on-the-fly augmentation and diarization metrics."""
