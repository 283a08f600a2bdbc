"""Concurrent admin operations on a live server: a reload, a pin and an A/B change fired at once end in a state that
one of their serialisations (the same operations one after another, in some order) also ends in, and `/ready`
agrees with the versions that actually answer."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import httpx

TOKEN = "test-admin-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPLIT = {"1.0.0": 0.5, "1.1.0": 0.5}
OPS: list[tuple[str, dict[str, Any]]] = [
    ("/admin/reload", {"version": "1.1.0"}),
    ("/admin/pin", {"version": "1.0.0"}),
    ("/admin/ab", {"weights": SPLIT}),
]
KEYS = [f"user-{i}" for i in range(40)]

State = tuple[str, str | None, tuple[tuple[str, float], ...]]


def state(client: httpx.Client) -> State:
    ready = client.get("/ready").json()
    return ready["version"], ready["pinned"], tuple(sorted(ready["ab_weights"].items()))


def reset(client: httpx.Client) -> None:
    """Back to: 1.0.0 active, both versions loaded, no pin, no split (an admin reload clears both)."""
    resp = client.post("/admin/reload", json={"version": "1.0.0"}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert state(client) == ("1.0.0", None, ())


def answers_agree_with_ready(client: httpx.Client, end: State) -> None:
    """What answers is what /ready says: the A/B arms when a split holds traffic, else the one served version."""
    version, pinned, weights = end
    served = [
        client.post("/infer", json={"audio": [[0.0] * 48000]}, headers={"X-Request-ID": key}).json()["version"]
        for key in KEYS
    ]
    if weights:
        assert set(served) == {v for v, _ in weights}, (end, served)
    else:
        assert set(served) == {pinned or version}, (end, served)
    repeat = [
        client.post("/infer", json={"audio": [[0.0] * 48000]}, headers={"X-Request-ID": key}).json()["version"]
        for key in KEYS[:10]
    ]
    assert repeat == served[:10]


def test_concurrent_reload_pin_and_ab_end_in_a_serialisable_state(registry_two_versions, serve, tmp_path) -> None:
    srv = serve(registry_two_versions["url"], tmp_path, keep_versions=3)
    with srv.client() as client:
        reset(client)
        serial: dict[State, list[tuple[int, ...]]] = {}
        for order in itertools.permutations(range(len(OPS))):
            reset(client)
            codes = [client.post(OPS[i][0], json=OPS[i][1], headers=AUTH).status_code for i in order]
            assert codes == [200] * len(OPS), (order, codes)
            end = state(client)
            serial.setdefault(end, []).append(order)
            answers_agree_with_ready(client, end)
        assert len(serial) >= 2, serial  # the order matters, so the check below can fail

    for _ in range(4):
        with srv.client() as client:
            reset(client)
        barrier = threading.Barrier(len(OPS))
        codes: list[int] = [0] * len(OPS)

        def fire(i: int, barrier: threading.Barrier, codes: list[int]) -> None:
            with srv.client() as own:
                barrier.wait()
                codes[i] = own.post(OPS[i][0], json=OPS[i][1], headers=AUTH).status_code

        threads = [threading.Thread(target=fire, args=(i, barrier, codes)) for i in range(len(OPS))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert codes == [200] * len(OPS), codes
        with srv.client() as client:
            end = state(client)
            assert end in serial, (end, serial)
            answers_agree_with_ready(client, end)
            models = client.get("/admin/models", headers=AUTH).json()
            assert models["version"] == end[0] and models["pinned"] == end[1]
