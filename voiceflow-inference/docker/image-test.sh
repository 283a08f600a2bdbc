#!/usr/bin/env bash
# `make image-test`: build Dockerfile.cpu with podman on a base image made from Debian's packages (no container
# registry is needed), run it against a file registry mounted read-only, and check it for real: non-root,
# HEALTHCHECK passing, /health, /ready, /infer and a short /ws/diarize stream, no torch, its size.
# Last line: `image-test ok: IMAGE SIZE_MB health=200 ready=200 infer=200 ws=ok`.
# Env: PY (a python with voiceflow_contract and websockets), IMAGE, BASE_IMAGE, REGISTRY_BACKENDS, PORT.
set -euo pipefail

PY=${PY:-python3}
IMAGE=${IMAGE:-localhost/voiceflow-inference:image-test}
BASE_IMAGE=${BASE_IMAGE:-localhost/voiceflow-base:bookworm}
REGISTRY_BACKENDS=${REGISTRY_BACKENDS:-s3}
PORT=${PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
MODEL=image-test
# This machine's runtime: runc (crun refuses hybrid cgroups) and explicit ulimits (the defaults cannot be set).
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
WORK=$(mktemp -d /tmp/voiceflow-image-test.XXXXXX)
NAME="voiceflow-image-test-$$"

cleanup() {
    "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    echo "base image $BASE_IMAGE: Debian bookworm minbase + python3, python3-venv, ca-certificates (mmdebstrap)"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        bookworm "$WORK/base.tar"
    "${PODMAN[@]}" import "$WORK/base.tar" "$BASE_IMAGE" >/dev/null
    rm -f "$WORK/base.tar"
fi

echo "building $IMAGE (Dockerfile.cpu, PYTHON_IMAGE=$BASE_IMAGE, REGISTRY_BACKENDS=$REGISTRY_BACKENDS)"
# --format docker keeps HEALTHCHECK (OCI images have none); the RUN steps reach the package index through the
# host network and need the host's CA bundle.
"${PODMAN[@]}" build --quiet --format docker --network=host "${LIMITS[@]}" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --build-arg PYTHON_IMAGE="$BASE_IMAGE" --build-arg REGISTRY_BACKENDS="$REGISTRY_BACKENDS" \
    -f voiceflow-inference/docker/Dockerfile.cpu -t "$IMAGE" . >/dev/null

# A tiny contract-valid model, validated and published with the real registry client into a file registry.
"$PY" - "$WORK/registry" "$MODEL" <<'PYEOF'
import sys
from pathlib import Path
from voiceflow_contract.testing import build_contract_model, publish_model_file
root, name = Path(sys.argv[1]), sys.argv[2]
publish_model_file(str(root), name, "1.0.0", build_contract_model(root.parent / "model.onnx"))
PYEOF
chmod -R a+rX "$WORK/registry"

"${PODMAN[@]}" run -d --name "$NAME" "${LIMITS[@]}" -p "127.0.0.1:$PORT:8000" \
    -v "$WORK/registry:/srv/registry:ro" -e VOICEFLOW_REGISTRY_URL=/srv/registry -e VOICEFLOW_MODEL_NAME=$MODEL \
    -e VOICEFLOW_WARMUP_RUNS=1 "$IMAGE" >/dev/null 2>"$WORK/run.err" \
    || { cat "$WORK/run.err" >&2; exit 1; }  # (its "no systemd for healthcheck timers" notes are expected here)

url="http://127.0.0.1:$PORT"
for _ in $(seq 1 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/ready")" = 200 ] && break
    if [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$NAME")" != true ]; then
        "${PODMAN[@]}" logs "$NAME" | tail -30; echo "image-test FAILED: the container exited" >&2; exit 1
    fi
    sleep 1
done

fail() { "${PODMAN[@]}" logs "$NAME" 2>&1 | tail -30; echo "image-test FAILED: $*" >&2; exit 1; }
uid=$("${PODMAN[@]}" exec "$NAME" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
# The image's own HEALTHCHECK command, run once now (podman has no systemd timer for it here).
"${PODMAN[@]}" healthcheck run "$NAME" >/dev/null || fail "HEALTHCHECK does not pass"
"${PODMAN[@]}" exec "$NAME" python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)" \
    || fail "torch is in the image"
health=$(curl -s -o /dev/null -w '%{http_code}' "$url/health")
ready=$(curl -s -o /dev/null -w '%{http_code}' "$url/ready")
"$PY" -c "import json; print(json.dumps({'audio': [[0.01] * 48000]}))" > "$WORK/infer.json"
infer=$(curl -s -o "$WORK/infer.out" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "@$WORK/infer.json" "$url/infer")
ws=$("$PY" - "ws://127.0.0.1:$PORT/ws/diarize" <<'PYEOF'
import json, sys
import numpy as np
from websockets.sync.client import connect
from voiceflow_contract.spec import SAMPLE_RATE
t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
audio = (0.2 * np.sin(2 * np.pi * 180 * t)).astype("<f4")
with connect(sys.argv[1], max_size=2**22, open_timeout=30) as ws:
    ws.send(json.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "encoding": "pcm_f32le"}))
    assert json.loads(ws.recv(timeout=30))["type"] == "started"
    for i in range(0, audio.size, SAMPLE_RATE // 2):
        ws.send(audio[i : i + SAMPLE_RATE // 2].tobytes())
    ws.send(json.dumps({"type": "stop"}))
    kinds = []
    while True:
        message = json.loads(ws.recv(timeout=30))
        kinds.append(message["type"])
        if message["type"] == "final":
            break
print("ok" if "window" in kinds else "no-windows")
PYEOF
)
size_mb=$(( $("${PODMAN[@]}" image inspect -f '{{.Size}}' "$IMAGE") / 1000000 ))
version=$(curl -s "$url/ready" | "$PY" -c "import json, sys; print(json.load(sys.stdin)['version'])")
echo "container: uid $uid, HEALTHCHECK healthy, no torch, serving $MODEL $version from the mounted registry"
[ "$health$ready$infer" = 200200200 ] && [ "$ws" = ok ] \
    || fail "health=$health ready=$ready infer=$infer ws=$ws"
echo "image-test ok: $IMAGE $size_mb health=$health ready=$ready infer=$infer ws=$ws"
