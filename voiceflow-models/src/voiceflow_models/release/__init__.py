"""Release after training: lineage, version bump, publish to the registry, and the one-call pipeline."""
