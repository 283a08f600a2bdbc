#!/usr/bin/env bash
# Deploy a registry version to a RUNNING service (the seed's production workflow): pull + validate here, hot reload
# (or pin) through the admin API, smoke-test /health and /infer, roll back automatically on a failed smoke test.
#   scripts/deploy.sh VERSION [MODEL] [--env ENV] [--server URL] [--registry URL] [--pin|--no-pin] [--report PATH] ...
# e.g. scripts/deploy.sh 1.2.0 fast-cnn --env staging --server https://staging.voiceflow.ai
# Thin wrapper over `voiceflow-inference deploy` (token: $VOICEFLOW_ADMIN_TOKEN; exit codes: deploy --help).
set -euo pipefail
# The CLI from PATH, else the repo virtualenv.
CLI="$(command -v voiceflow-inference || echo "$(cd "$(dirname "$0")" && pwd)/../../.venv/bin/voiceflow-inference")"
if [[ $# -lt 1 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    exec "$CLI" deploy --help
fi
VERSION="$1"
shift
ARGS=(--version "$VERSION")
if [[ $# -gt 0 && "${1:-}" != -* ]]; then
    ARGS+=(--model "$1")
    shift
fi
exec "$CLI" deploy "${ARGS[@]}" "$@"
