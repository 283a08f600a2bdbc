#!/usr/bin/env bash
# Trigger a hot reload without restarting the server (the seed's hot_reload.sh):
# download VERSION of MODEL, validate it against the contract, then atomically move it into the server's watch_dir.
#   scripts/hot_reload.sh VERSION [MODEL] [--env ENV] [--registry URL] [--watch-dir DIR]
# Thin wrapper over `voiceflow-inference hot-reload`.
set -euo pipefail
# The CLI from PATH, else the repo virtualenv.
CLI="$(command -v voiceflow-inference || echo "$(cd "$(dirname "$0")" && pwd)/../../.venv/bin/voiceflow-inference")"
if [[ $# -lt 1 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    exec "$CLI" hot-reload --help
fi
exec "$CLI" hot-reload "$@"
