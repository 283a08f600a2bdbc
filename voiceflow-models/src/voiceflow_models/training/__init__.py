"""Training: the Hydra entry points (train, eval), on-the-fly augmentation, config and callback helpers."""
