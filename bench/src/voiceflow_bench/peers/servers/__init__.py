"""Server scripts the peers' own interpreters run (each venv has its peer, onnxruntime and numpy; none has ours)."""
