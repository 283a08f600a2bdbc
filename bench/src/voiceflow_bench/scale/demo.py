"""`make scale-demo`: N replicas behind HAProxy on one S3 registry; publish, A/B, roll back and lose a replica under
mixed REST, OIP and WebSocket load. Prints a table and, last, one JSON line. Exit status 0 when every check holds.

Everything runs on 127.0.0.1 and is bounded (each wait has a timeout); the registry, the replicas and the balancer
are stopped at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson
from websockets.sync.client import connect

from voiceflow_bench.scale.balancer import Balancer
from voiceflow_bench.scale.cluster import MODEL, Replicas, S3Registry
from voiceflow_bench.scale.traffic import MixedLoad, count, kinds
from voiceflow_bench.serving.audio import window_batch
from voiceflow_bench.serving.http_client import rest_request
from voiceflow_bench.serving.server import free_port
from voiceflow_contract.spec import SAMPLE_RATE

V1, V2 = "1.0.0", "1.1.0"
SHUTDOWN_CLOSE = 1001  # the server's close code for sessions it ends while shutting down


@dataclass
class Report:
    """The demo's rows and its JSON line."""

    rows: list[tuple[str, int, int, str, bool]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def row(self, phase: str, requests: int, failed: int, detail: str, ok: bool) -> None:
        self.rows.append((phase, requests, failed, detail, ok))

    def print(self) -> None:
        width = max(len(r[3]) for r in self.rows) if self.rows else 10
        print(f"\n{'phase':<22} {'requests':>8} {'failed':>6}  {'result':<{width}}  check")
        print("-" * (48 + width))
        for phase, requests, failed, detail, ok in self.rows:
            print(f"{phase:<22} {requests:>8} {failed:>6}  {detail:<{width}}  {'ok' if ok else 'FAIL'}")
        print()


def _sticky(replicas: Replicas, ids: int) -> tuple[bool, dict[str, int]]:
    """Send the same request ids (REST, OIP) and session ids (WebSocket) to every replica directly; True when each id
    got one version everywhere. Also returns how many ids each version got."""
    body = rest_request(window_batch(1, seed=11)).body
    consistent, spread = True, dict[str, int]()
    for i in range(ids):
        key = f"sticky-{i:03d}"
        seen: set[str] = set()
        for server in replicas.servers.values():
            rest = httpx.post(f"{server.url}/infer", content=body, headers={"X-Request-ID": key}, timeout=30.0)
            seen.add(rest.headers["X-Model-Version"])
            seen.add(_oip_version(server.url, key))
            with connect(server.ws_url, open_timeout=30) as ws:
                ws.send(orjson.dumps({"type": "start", "sample_rate": SAMPLE_RATE, "session_id": key}).decode())
                seen.add(orjson.loads(ws.recv(timeout=30))["model_version"])
        consistent &= len(seen) == 1
        for version in seen:
            spread[version] = spread.get(version, 0) + 1
    return consistent, spread


def _oip_version(url: str, key: str) -> str:
    """The version an OIP request with id ``key`` was answered by (JSON tensors, the response's model_version)."""
    window = window_batch(1, seed=13)[0].tolist()
    tensor = {"name": "audio", "shape": [1, len(window)], "datatype": "FP32", "data": window}
    body = {"id": key, "inputs": [tensor]}
    return str(httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body, timeout=30.0).json()["model_version"])


def run(args: argparse.Namespace) -> int:
    """The whole demo; returns the exit status."""
    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="voiceflow-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    checks: list[bool] = []
    load: MixedLoad | None = None
    with contextlib.ExitStack() as stack:
        registry = S3Registry().start()
        stack.callback(registry.stop)
        registry.publish(V1, seed=0, work_dir=work)
        replicas = Replicas(registry, work, args.replicas, args.poll_interval)
        stack.callback(replicas.stop)
        replicas.start()
        balancer = Balancer(work, free_port(), free_port(), replicas.ports)
        stack.callback(balancer.stop)
        balancer.start()
        print(
            f"{args.replicas} replicas {replicas.ports} behind {Balancer.version()} on {balancer.url}; "
            f"registry {registry.url} (moto on 127.0.0.1:{registry.port}); poll every {args.poll_interval} s"
        )
        load = MixedLoad(balancer.url, balancer.ws_url, MODEL, rate=args.rate).start()
        stack.callback(load.stop)
        t0 = time.monotonic()
        time.sleep(args.steady)

        # 1. publish a new version: every replica picks it up by polling the registry
        published = time.monotonic()
        registry.publish(V2, seed=1, work_dir=work)
        seen = replicas.wait_for_version(V2, published, timeout=args.poll_interval * 2 + 60)
        converged = max((s for s in seen.values() if s is not None), default=float("nan"))
        all_seen = all(s is not None for s in seen.values())
        time.sleep(args.steady)
        requests, failed = count(load.samples, published, time.monotonic())
        ok = all_seen and failed == 0 and converged <= args.poll_interval + args.activation_budget
        checks.append(ok)
        per = " ".join(f"{n}={s:.1f}s" if s is not None else f"{n}=never" for n, s in seen.items())
        report.row(f"publish {V2}", requests, failed, f"all on {V2} after {converged:.2f} s ({per})", ok)

        # 2. A/B split on every replica: the same id gets the same version from each of them
        ab_start = time.monotonic()
        statuses = replicas.admin("ab", {"weights": {V1: 0.5, V2: 0.5}})
        sticky, spread = _sticky(replicas, args.sticky_ids)
        time.sleep(args.steady)
        requests, failed = count(load.samples, ab_start, time.monotonic())
        both_arms = len(spread) == 2 or args.sticky_ids < 8  # fewer ids may all hash to one arm
        ok = sticky and both_arms and failed == 0 and all(s == 200 for s in statuses.values())
        checks.append(ok)
        arms = ", ".join(f"{v}: {n} ids" for v, n in sorted(spread.items()))
        report.row(
            "A/B 50/50",
            requests,
            failed,
            f"{args.sticky_ids} ids x {args.replicas} replicas x 3 doors -> one version each ({arms})",
            ok,
        )

        # 3. roll back: the registry's `latest` and every replica
        rb_start = time.monotonic()
        registry.client().rollback(MODEL)
        statuses = replicas.admin("rollback", {"version": V1})
        time.sleep(max(args.steady, args.poll_interval * 1.5))  # a poll passes: nobody moves forward again
        versions = replicas.versions()
        requests, failed = count(load.samples, rb_start, time.monotonic())
        ok = failed == 0 and set(versions.values()) == {V1} and all(s == 200 for s in statuses.values())
        checks.append(ok)
        report.row("roll back", requests, failed, f"every replica on {V1} after a poll: {versions}", ok)

        # 4. lose a replica mid-load: held sessions on every replica, then SIGTERM one
        held = MixedLoad(
            balancer.url,
            balancer.ws_url,
            MODEL,
            rest=0,
            oip=0,
            ws=2 * args.replicas,
            rate=args.rate,
            session_windows=None,
        ).start()
        stack.callback(held.stop)
        time.sleep(max(2.0, args.steady))
        on = {s.replica for s in held.sessions if s.windows}
        victim = next((name for name in replicas.servers if name in on), "r1")
        kill_start = time.monotonic()
        replicas.terminate(victim)  # SIGTERM drains: unready at once, sessions get the grace period
        removed = balancer.wait_for(victim, "DOWN", timeout=30.0)
        exited = replicas.wait_exit(victim, timeout=30.0)  # no second signal: that would skip the drain
        time.sleep(args.steady)
        held.stop()
        requests, failed = count(load.samples, kill_start, time.monotonic())
        theirs = [s for s in held.sessions if s.replica == victim]
        others = [s for s in held.sessions if s.replica != victim and s.replica is not None]
        their_codes = sorted({s.close_code for s in theirs if s.close_code is not None})
        others_ok = all(s.clean and any(t > kill_start for t in s.windows) for s in others) and bool(others)
        theirs_ok = bool(theirs) and all(s.close_code == SHUTDOWN_CLOSE for s in theirs)
        ok = removed is not None and exited and theirs_ok and others_ok and failed == 0
        checks.append(ok)
        report.row(
            f"kill {victim} (SIGTERM)",
            requests,
            failed,
            f"out of the balancer after {removed if removed is None else round(removed, 2)} s; its "
            f"{len(theirs)} sessions closed {their_codes}; {len(others)} others streamed on, ended 1000",
            ok,
        )
        load.stop()

    # Background WebSocket sessions of the killed replica end with 1001 by design: not failures.
    expected = sum(1 for s in load.sessions if s.replica == victim and s.close_code == SHUTDOWN_CLOSE)
    failed_total = sum(1 for s in load.samples if not s.ok) - expected
    report.row(
        "total",
        len(load.samples),
        failed_total,
        f"{kinds(load.samples)} in {time.monotonic() - t0:.0f} s",
        failed_total == 0,
    )
    report.print()
    report.facts = {
        "replicas": args.replicas,
        "balancer": Balancer.version(),
        "requests": len(load.samples),
        "requests_by_door": kinds(load.samples),
        "failed_requests": failed_total,
        "converged_s": round(converged, 3),
        "poll_interval_s": args.poll_interval,
        "activation_budget_s": args.activation_budget,
        "sticky_consistent": sticky,
        "ab_ids_per_version": spread,
        "rollback_versions": versions,
        "killed": victim,
        "removed_after_s": None if removed is None else round(removed, 3),
        "killed_sessions_close_codes": their_codes,
        "surviving_sessions_ok": others_ok,
        "ok": all(checks) and failed_total == 0,
    }
    print(json.dumps(report.facts))
    return 0 if report.facts["ok"] else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m voiceflow_bench.scale.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--replicas", type=int, default=3, help="inference replicas behind the balancer (>= 2)")
    p.add_argument("--poll-interval", type=float, default=3.0, help="registry poll interval of every replica, s")
    p.add_argument(
        "--activation-budget",
        type=float,
        default=10.0,
        help="seconds a replica may take, after the poll that sees a new version, to pull, validate and warm it",
    )
    p.add_argument("--steady", type=float, default=3.0, help="seconds of load between and after the steps")
    p.add_argument("--rate", type=float, default=4.0, help="requests (or windows) per second per load worker")
    p.add_argument("--sticky-ids", type=int, default=12, help="ids sent to every replica in the A/B check")
    p.add_argument("--work-dir", help="logs, caches and the HAProxy config (default: a fresh temp dir)")
    return p


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: every process is stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m voiceflow_bench.scale.demo``."""
    args = _parser().parse_args(argv)
    if args.replicas < 2:
        raise SystemExit("--replicas must be at least 2")
    signal.signal(signal.SIGTERM, _terminate)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "run"]
