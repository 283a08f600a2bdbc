#!/usr/bin/env bash
# Pull a model version from the registry into the local cache (sha256-verified, then contract-validated).
# Thin wrapper over `voiceflow-inference pull`; every option is passed through:
#   scripts/download_model.sh --model fast-cnn --version 1.2.0 [--output DIR] [--registry URL] [--env ENV]
set -euo pipefail
# The CLI from PATH, else the repo virtualenv.
CLI="$(command -v voiceflow-inference || echo "$(cd "$(dirname "$0")" && pwd)/../../.venv/bin/voiceflow-inference")"
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    exec "$CLI" pull --help
fi
exec "$CLI" pull "$@"
