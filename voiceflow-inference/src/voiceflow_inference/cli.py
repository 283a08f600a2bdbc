"""`voiceflow-inference`: serve the API, pull a model, or hot-reload a running server through its watch directory.

    voiceflow-inference serve [--env ENV] [--host HOST] [--port PORT]
    voiceflow-inference pull [--env ENV] [--model NAME] [--version REF] [--registry URL] [--cache-dir DIR]
    voiceflow-inference hot-reload VERSION [MODEL] [--env ENV] [--registry URL] [--watch-dir DIR]
    voiceflow-inference deploy --server URL --version REF [--env ENV] [--pin/--no-pin] ... (see deploy --help)
    voiceflow-inference stream (FILE | -) --server URL [--sample-rate HZ] [--rttm OUT] [--plot PNG]

Exit codes: 0 ok, 1 the model failed validation, 2 bad usage or configuration, 3 registry error
(deploy adds 4-7: see voiceflow_inference.client.deploy_options).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from voiceflow_inference.client.deploy_cli import add_deploy_parser, run_deploy_command
from voiceflow_inference.client.stream_cli import add_stream_parser, run_stream_command
from voiceflow_inference.config import ENVIRONMENTS, ConfigError, Settings, load_settings

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_REGISTRY = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voiceflow-inference",
        description="VoiceFlow inference service. Settings come from config/<env>.toml and VOICEFLOW_* variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def env_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--env", choices=ENVIRONMENTS, help="config environment (default: $VOICEFLOW_ENV or development)"
        )

    serve = sub.add_parser("serve", help="run the HTTP/WebSocket server (uvicorn)")
    env_arg(serve)
    serve.add_argument("--host", help="bind address (default from config)")
    serve.add_argument("--port", type=int, help="port (default from config)")
    serve.add_argument("--registry", help="registry URL (overrides registry_url)")
    serve.add_argument("--model", help="model name (overrides model_name)")
    serve.add_argument("--version", dest="ref", help="version or alias (overrides model_ref)")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])

    pull = sub.add_parser("pull", help="download and verify a model version into the local cache")
    env_arg(pull)
    pull.add_argument("--model", help="model name (default from config)")
    pull.add_argument("--version", dest="ref", help="version or alias (default from config, e.g. latest)")
    pull.add_argument("--registry", help="registry URL (default from config)")
    pull.add_argument(
        "--cache-dir", "--output", dest="cache_dir", type=Path, help="cache directory (default from config)"
    )
    pull.add_argument("--no-validate", action="store_true", help="skip the contract validation after download")

    hot = sub.add_parser(
        "hot-reload",
        help="download, validate and atomically swap a version into the server's watch directory",
        description="Pull VERSION of MODEL, validate it against the contract, write <watch_dir>/<file>.json and "
        "atomically rename the model into <watch_dir>/<file>; a running server with that watch_dir reloads it.",
    )
    hot.add_argument("version", metavar="VERSION", help="version or alias, e.g. 1.2.0 or latest")
    hot.add_argument("model", metavar="MODEL", nargs="?", help="model name (default from config)")
    env_arg(hot)
    hot.add_argument("--registry", help="registry URL (default from config)")
    hot.add_argument("--watch-dir", type=Path, help="watch directory (default from config)")
    hot.add_argument("--cache-dir", type=Path, help="cache directory (default from config)")
    add_deploy_parser(sub, ENVIRONMENTS)
    add_stream_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for arg, key in (
        ("host", "host"),
        ("port", "port"),
        ("registry", "registry_url"),
        ("model", "model_name"),
        ("ref", "model_ref"),
        ("log_level", "log_level"),
        ("cache_dir", "cache_dir"),
        ("watch_dir", "watch_dir"),
    ):
        value = getattr(args, arg, None)
        if value is not None:
            overrides[key] = value
    return load_settings(getattr(args, "env", None), **overrides)


def _serve(settings: Settings) -> int:
    import uvicorn

    from voiceflow_inference.app import create_app

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_s)),
        # PCM audio barely deflates (~8 %) but permessage-deflate costs ~10 ms per second of float32 audio on each
        # side of /ws/diarize (docs/PERFORMANCE_ANALYSIS.md): never negotiate it.
        ws_per_message_deflate=False,
    )
    return EXIT_OK


def _pull(settings: Settings, ref: str) -> Any:
    """Pull one version into the cache (the registry verifies its sha256); returns the PulledModel."""
    from voiceflow_contract.registry import ModelRegistry

    registry = ModelRegistry(settings.registry_url, storage_options=settings.storage_options)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    return registry.pull(settings.model_name, ref, settings.cache_dir, progress=True)


def _validate(settings: Settings, pulled: Any) -> Any:
    """Validate a pulled model against the contract (as the server will at load); returns the report."""
    from voiceflow_contract.validator import validate_model_contract

    return validate_model_contract(
        pulled.path,
        num_speakers=pulled.metadata.contract.num_speakers if pulled.metadata else None,
        threads=max(1, settings.ort.intra_op_threads),
        providers=list(settings.ort.providers),
        measure_latency=settings.measure_latency,
    )


def _print_failed(report: Any) -> None:
    for check in report.failed_checks:
        print(f"  FAILED {check.name}: {check.message}", file=sys.stderr)


def _cmd_pull(settings: Settings, args: argparse.Namespace) -> int:
    pulled = _pull(settings, settings.model_ref)
    report = None if args.no_validate else _validate(settings, pulled)
    if report is not None and not report.passed:
        print(f"{settings.model_name} {pulled.version} failed validation:", file=sys.stderr)
        _print_failed(report)
        return EXIT_INVALID
    print(
        json.dumps(
            {
                "model": settings.model_name,
                "version": str(pulled.version),
                "path": str(pulled.path),
                "sha256": pulled.sha256,
                "validated": report is not None,
            }
        )
    )
    return EXIT_OK


def _cmd_hot_reload(settings: Settings, args: argparse.Namespace) -> int:
    from voiceflow_inference.lifecycle.watch_files import WatchSidecar, install_into_watch_dir

    if settings.watch_dir is None:
        raise ConfigError("config key 'watch_dir' (VOICEFLOW_WATCH_DIR or --watch-dir): required for hot-reload")
    steps = tqdm(total=3, desc=f"hot-reload {settings.model_name}@{args.version}", unit="step", file=sys.stderr)
    with steps:
        steps.set_postfix_str("pull")
        pulled = _pull(settings, args.version)
        steps.update()
        steps.set_postfix_str("validate")
        report = _validate(settings, pulled)
        steps.update()
        if not report.passed:
            print(f"{settings.model_name} {pulled.version} failed validation; nothing swapped:", file=sys.stderr)
            _print_failed(report)
            return EXIT_INVALID
        steps.set_postfix_str("swap")
        sidecar = WatchSidecar(
            model_name=settings.model_name,
            version=str(pulled.version),
            sha256=pulled.sha256,
            metadata=json.loads(pulled.metadata.model_dump_json()) if pulled.metadata else None,
        )
        target = install_into_watch_dir(Path(pulled.path), settings.watch_dir, settings.watch_filename, sidecar)
        steps.update()
    print(
        json.dumps(
            {
                "model": settings.model_name,
                "version": str(pulled.version),
                "sha256": pulled.sha256,
                "installed": str(target),
            }
        )
    )
    print("reload triggered: check the server's /ready or logs for the new version", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `voiceflow-inference` command."""
    args = _parser().parse_args(argv)
    if args.command == "deploy":
        return run_deploy_command(args)  # reads its own settings: it targets a remote server
    if args.command == "stream":
        return run_stream_command(args)  # a client of a remote server: no local settings
    try:
        settings = _settings(args)
        if args.command == "serve":
            return _serve(settings)
        if args.command == "pull":
            return _cmd_pull(settings, args)
        return _cmd_hot_reload(settings, args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        from voiceflow_contract.errors import RegistryError

        if isinstance(exc, RegistryError | OSError):
            print(f"registry error: {exc}", file=sys.stderr)
            return EXIT_REGISTRY
        raise


if __name__ == "__main__":
    sys.exit(main())
