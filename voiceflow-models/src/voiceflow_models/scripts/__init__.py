"""Release scripts: semantic version bump and publishing to the model registry."""
