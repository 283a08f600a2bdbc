"""``voiceflow-registry``: list, show, pull, promote, roll back and publish models in an fsspec registry.

Exit codes: 0 success; 1 registry error (refused publish, checksum mismatch, ...); 2 usage error or invalid name;
3 registry unreachable; 4 unknown model, version or pointer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from voiceflow_contract.errors import (
    InvalidNameError,
    ModelNotFoundError,
    RegistryUnavailableError,
    VersionNotFoundError,
    VoiceFlowError,
)
from voiceflow_contract.registry.cache import load_from_cache
from voiceflow_contract.registry.client import ModelRegistry
from voiceflow_contract.registry.env import ENV_REGISTRY, ENV_REGISTRY_ALIAS, registry_from_env
from voiceflow_contract.registry.names import LATEST
from voiceflow_contract.registry.reader import VersionInfo
from voiceflow_contract.registry.storage import parse_storage_option

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_NOT_FOUND = 4

EPILOG = """\
examples:
  export VOICEFLOW_REGISTRY_URL=s3://voiceflow-models      # or gs://..., az://container/prefix, /srv/registry
  voiceflow-registry ls
  voiceflow-registry ls fast-cnn
  voiceflow-registry show fast-cnn stable --json
  voiceflow-registry pull fast-cnn latest --cache ~/.cache/voiceflow
  voiceflow-registry publish fast-cnn 1.1.0 --model model.onnx --metadata metadata.json --report validation_report.json
  voiceflow-registry promote fast-cnn 1.1.0 --alias stable
  voiceflow-registry rollback fast-cnn --pointer latest
  voiceflow-registry --registry s3://bucket --storage-option endpoint_url=http://127.0.0.1:9000 ls

storage options: --storage-option key=value (repeatable) goes to the fsspec filesystem; defaults come from the
environment: AWS_* and VOICEFLOW_S3_ENDPOINT_URL (s3), AZURE_STORAGE_CONNECTION_STRING (az), STORAGE_EMULATOR_HOST (gs).
exit codes: 0 ok, 1 registry error, 2 usage/invalid name, 3 registry unreachable, 4 unknown model/version/pointer.
"""


class _UsageError(Exception):
    """Bad arguments: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="voiceflow-registry",
        description="Browse and change a VoiceFlow model registry (file://, s3://, gs://, az://).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--registry", default=None, help=f"registry URL (default: ${ENV_REGISTRY}, else ${ENV_REGISTRY_ALIAS})"
    )
    parser.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fsspec storage option, repeatable (e.g. endpoint_url=http://127.0.0.1:9000)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ls = sub.add_parser("ls", help="list models, or one model's versions and pointers")
    ls.add_argument("model", nargs="?")
    ls.add_argument("--json", action="store_true", help="print JSON")

    show = sub.add_parser("show", help="metadata, report summary, checksum and pointers of one version")
    show.add_argument("model")
    show.add_argument("ref", nargs="?", default=LATEST, help="latest (default), an alias, 1.2.3 or v1.2.3")
    show.add_argument("--json", action="store_true", help="print JSON")

    pull = sub.add_parser("pull", help="download a version into a local cache, verifying its sha256")
    pull.add_argument("model")
    pull.add_argument("ref", nargs="?", default=LATEST)
    pull.add_argument("--cache", required=True, type=Path, help="cache directory")
    pull.add_argument(
        "--offline-fallback",
        action="store_true",
        help="when the registry is unreachable, use the best verified cached copy instead of failing",
    )

    promote = sub.add_parser("promote", help="point an alias (default latest) at a published version")
    promote.add_argument("model")
    promote.add_argument("version")
    promote.add_argument("--alias", default=LATEST)

    rollback = sub.add_parser("rollback", help="move a pointer back to its previous version (history kept)")
    rollback.add_argument("model")
    rollback.add_argument("--pointer", default=LATEST)

    publish = sub.add_parser("publish", help="upload a validated model as a new immutable version")
    publish.add_argument("model")
    publish.add_argument("version")
    publish.add_argument("--model", dest="model_file", required=True, type=Path, help="model.onnx")
    publish.add_argument("--metadata", required=True, type=Path, help="metadata.json")
    publish.add_argument("--report", required=True, type=Path, help="validation_report.json (must have passed)")
    publish.add_argument(
        "--alias", action="append", default=None, help="pointer(s) to move to the new version (default: latest)"
    )
    publish.add_argument("--no-latest", action="store_true", help="do not move latest (publish only, or aliases only)")

    manifest = sub.add_parser("manifest", help="print manifest.json")
    manifest.add_argument("--rebuild", action="store_true", help="rebuild it from version folders and pointers")
    return parser


def _info_dict(info: VersionInfo) -> dict[str, Any]:
    return {
        "model": info.model_name,
        "version": str(info.version),
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
        "pointers": info.pointers,
        "location": info.location,
        "profile": info.metadata.profile,
        "report_passed": info.report.passed,
        "metadata": json.loads(info.metadata.to_json()),
    }


def _run(args: argparse.Namespace, console: Console) -> int:
    options = dict(parse_storage_option(item) for item in args.storage_option)
    url = args.registry or registry_from_env()
    if not url:
        raise _UsageError(f"no registry: pass --registry URL or set {ENV_REGISTRY}")
    registry = ModelRegistry(url, options)
    progress = not args.quiet

    if args.command == "ls":
        if args.model is None:
            models = registry.list_models()
            if args.json:
                print(json.dumps({m: str(registry.pointers(m).get(LATEST, "")) for m in models}, indent=2))
                return EXIT_OK
            table = Table(title=f"models in {registry.url}")
            table.add_column("model")
            table.add_column("latest")
            table.add_column("versions", justify="right")
            for model in models:
                pointers = registry.pointers(model)
                table.add_row(model, str(pointers.get(LATEST, "-")), str(len(registry.list_versions(model))))
            console.print(table)
            return EXIT_OK
        versions = registry.list_versions(args.model)
        pointers = registry.pointers(args.model)
        if args.json:
            print(
                json.dumps(
                    {"versions": [str(v) for v in versions], "pointers": {k: str(v) for k, v in pointers.items()}},
                    indent=2,
                )
            )
            return EXIT_OK
        table = Table(title=f"{args.model} in {registry.url}")
        table.add_column("version")
        table.add_column("pointers")
        for version in versions:
            names = sorted(k for k, v in pointers.items() if v == version)
            table.add_row(str(version), ", ".join(names))
        console.print(table)
        return EXIT_OK

    if args.command == "show":
        info = registry.show(args.model, args.ref)
        if args.json:
            print(json.dumps(_info_dict(info), indent=2))
        else:
            table = Table(title=f"{info.model_name} {info.version}", show_header=False)
            for key, value in _info_dict(info).items():
                if key != "metadata":
                    table.add_row(key, str(value))
            meta = info.metadata
            table.add_row("architecture", f"{meta.architecture.type} ({meta.architecture.params} params)")
            table.add_row("der", str(meta.accuracy.der_test_set))
            table.add_row("created_at", meta.created_at.isoformat())
            console.print(table)
        return EXIT_OK

    if args.command == "pull":
        try:
            pulled = registry.pull(args.model, args.ref, args.cache, progress=progress)
        except RegistryUnavailableError as exc:
            if not args.offline_fallback:
                raise
            pulled = load_from_cache(args.cache, args.model, args.ref)
            print(f"warning: {exc}; using the cached copy", file=sys.stderr)
        source = "cache" if pulled.from_cache else "registry"
        print(f"{pulled.model_name} {pulled.version} sha256={pulled.sha256} ({source}) -> {pulled.path}")
        return EXIT_OK

    if args.command == "promote":
        version = registry.promote(args.model, args.version, args.alias)
        print(f"{args.model}: {args.alias} -> {version}")
        return EXIT_OK

    if args.command == "rollback":
        version = registry.rollback(args.model, args.pointer)
        print(f"{args.model}: {args.pointer} rolled back to {version}")
        return EXIT_OK

    if args.command == "publish":
        aliases = list(args.alias or [])
        if not args.no_latest and LATEST not in aliases:
            aliases.insert(0, LATEST)
        info = registry.publish(
            args.model,
            args.version,
            args.model_file,
            args.metadata,
            args.report,
            aliases=aliases,
            progress=progress,
        )
        moved = ", ".join(info.pointers) or "no pointers moved"
        print(f"published {info.model_name} {info.version} sha256={info.sha256} ({moved}) at {info.location}")
        return EXIT_OK

    if args.command == "manifest":
        manifest = registry.rebuild_manifest() if args.rebuild else registry.manifest()
        print(manifest.to_json(), end="")
        return EXIT_OK
    raise _UsageError(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it first


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``voiceflow-registry``; returns the exit code (errors are one line on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console()
    try:
        return _run(args, console)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidNameError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RegistryUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (ModelNotFoundError, VersionNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except VoiceFlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
