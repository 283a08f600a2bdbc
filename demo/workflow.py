"""`make demo`: the whole VoiceFlow workflow, end to end, on this machine.

train the default model (ge2e: the pretrained GE2E encoder, its head fine-tuned on synthetic voices; --model fast-cnn
--experiment fast_cnn_synthetic for the other) -> export, optimise, validate, benchmark, publish to a local registry ->
serve it on 127.0.0.1 -> stream a held-out conversation and the real development recording over /ws/diarize (live
timeline + DER) -> publish a new version and watch the server hot-reload under load with no failed request -> roll
back -> stop -> summary.

Running it again bumps versions (1.0.1, 1.0.2, ...) instead of failing. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx

from demo.pipeline import publish, train
from demo.rest_load import Load
from demo.server import serve
from demo.settings import EXPERIMENT, MODEL, RESUME_EPOCHS, ROOT
from demo.streaming import stream_conversation, stream_real_sample
from demo.summary import report
from demo.terminal import console, step
from voiceflow_inference.client.timeline_plot import plot_timeline


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registry", default=str(ROOT / "registry"), help="registry URL or folder")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "artifacts" / "demo", help="where the demo's files go")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of held-out conversation to stream")
    parser.add_argument(
        "--seed",
        type=int,
        default=7_000_000,
        help="held-out conversation to stream (test-split voices; the default makes the summary reproducible)",
    )
    parser.add_argument("--model", default=MODEL, help=f"registry model name (default {MODEL})")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"training experiment (default {EXPERIMENT})")
    args = parser.parse_args(argv)
    model, experiment = args.model, args.experiment
    artifacts: Path = args.artifacts.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    registry: str = args.registry
    total = 7
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    step(1, total, f"Train {model} ({experiment}) on synthetic voices (PyTorch Lightning + Hydra, CPU)")
    t = time.perf_counter()
    ckpt_a = train(artifacts, "train-a", [], experiment, model)
    timings["train"] = time.perf_counter() - t

    step(2, total, "Export -> optimise -> validate -> benchmark -> accuracy -> bump -> publish")
    t = time.perf_counter()
    version_a = publish(ckpt_a, artifacts / "publish-a", registry, model)
    timings["publish"] = time.perf_counter() - t
    console.print(f"published [bold]{model} v{version_a}[/bold] to {registry}")

    step(3, total, "Serve it on 127.0.0.1 (pull latest, verify sha256, validate, warm up)")
    t = time.perf_counter()
    with serve(registry, artifacts, model) as server:
        server.wait_for_version(version_a)
        ready = server.ready()
        console.print(f"{server.url} ready: {ready.get('model')} v{ready.get('version')} from {ready.get('source')}")

        timings["serve"] = time.perf_counter() - t
        step(4, total, "Stream a held-out conversation (unseen voices) and the real sample over /ws/diarize")
        t = time.perf_counter()
        streamed = stream_conversation(server, seed=args.seed, duration_s=args.duration)
        scores = streamed["scores"]
        console.print(
            f"DER {scores['der_collar_025']:.1%} (±0.25 s collar), {scores['der_collar_0']:.1%} (no collar); "
            f"{streamed['duration_s']} s of audio streamed in {streamed['stream_s']} s (RTF {streamed['rtf']})"
        )
        (artifacts / "streamed.rttm").write_text(streamed["rttm"])
        title = f"Streamed held-out conversation, v{version_a}: DER {scores['der_collar_025']:.1%} (collar 0.25 s)"
        timeline = plot_timeline(
            streamed["hypothesis"],
            artifacts / "timeline.png",
            reference=streamed["reference"],
            duration=streamed["duration_s"],
            title=title,
        )
        console.print(f"timeline picture (reference above, streamed below): {timeline}")

        real = stream_real_sample(server)
        if real is not None:
            console.print(
                f"real sample (pyannote.audio, development recording): DER {real['scores']['der_collar_0']:.1%} "
                f"(collar 0), {real['scores']['der_collar_025']:.1%} (±0.25 s); {real['speakers_found']} speakers "
                f"found ({real['reference_speakers']} in the reference), not told the count"
            )
            (artifacts / "streamed-real-sample.rttm").write_text(real["rttm"])
        timings["stream"] = time.perf_counter() - t

        step(5, total, "Publish a new version (fine-tuned weights) and hot-reload under load")
        load = Load(server.url)
        load.start()
        t = time.perf_counter()
        ckpt_b = train(
            artifacts,
            "train-b",
            [
                f"ckpt_path={ckpt_a.parent.parent / 'run' / 'checkpoints' / 'last.ckpt'}",
                f"trainer.max_epochs={RESUME_EPOCHS.get(experiment, 5)}",
                "test_conversations=false",
            ],
            experiment,
            model,
        )
        version_b = publish(ckpt_b, artifacts / "publish-b", registry, model)
        timings["train+publish b"] = time.perf_counter() - t
        swap_s = server.wait_for_version(version_b)
        time.sleep(1.0)
        console.print(
            f"server now serves v{version_b} ({swap_s:.1f} s after publish; poller + load + validate + warm-up); "
            f"{load.requests} requests during the reload, {load.failures} failed, versions seen {load.versions}"
        )

        step(6, total, f"Roll back to v{version_a} (admin API; instant: the previous session is kept warm)")
        t = time.perf_counter()
        server.admin("rollback", {"version": version_a})
        rollback_s = server.wait_for_version(version_a) + (time.perf_counter() - t)
        time.sleep(1.0)
        load.stop()
        console.print(f"serving v{server.ready().get('version')} again ({rollback_s * 1000:.0f} ms)")
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        reloads = [line for line in metrics.splitlines() if line.startswith("voiceflow_model_reloads_total{")]
        for line in reloads:
            console.print(f"  [dim]{line}[/dim]")

        step(7, total, "Stop the server (SIGTERM: drain sessions, exit)")
    console.print("server stopped")

    report(
        artifacts=artifacts,
        registry=registry,
        versions=(version_a, version_b),
        load=load,
        streamed=streamed,
        real=real,
        model=model,
        wall_s=time.perf_counter() - t0,
        timings=timings,
    )
    if load.failures:
        console.print(f"[red]{load.failures} requests failed during the reload: {load.errors[:3]}[/red]")
        return 1
    return 0
