"""Trim an upstream CRD to the openAPIV3Schema the manifest tests validate against (no network at test time).

    python deploy/k8s/crds/trim_crd.py UPSTREAM_CRD.yaml OUT.schema.json --source REPO@COMMIT:PATH [--drop a,b]

Keeps only the served storage version's `openAPIV3Schema`, drops every `description` (most of the bytes), `status`
and the `spec` properties named in --drop (dotted paths below `spec`, e.g. KServe's explainer, transformer and
predictor.sklearn, which repeat the pod and container specs), and writes JSON with a header naming the source
commit and its Apache-2.0 licence. deploy/k8s/crds/README.md has the commands that made the vendored files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _strip(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def trim(crd: dict[str, Any], drop: list[str]) -> dict[str, Any]:
    """The storage version's schema without descriptions, status and the dropped spec properties."""
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = _strip(version["schema"]["openAPIV3Schema"])
    schema["properties"].pop("status", None)
    for dotted in drop:
        *parents, name = dotted.split(".")
        node = schema["properties"]["spec"]
        for parent in parents:
            node = node["properties"][parent]
        node["properties"].pop(name)
    return {
        "group": crd["spec"]["group"],
        "version": version["name"],
        "kind": crd["spec"]["names"]["kind"],
        "openAPIV3Schema": schema,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", required=True, help="REPO@COMMIT:PATH of the upstream CRD")
    parser.add_argument(
        "--drop", default="", help="comma-separated spec properties to drop, dotted below spec (predictor.sklearn)"
    )
    args = parser.parse_args()
    trimmed = trim(yaml.safe_load(args.crd.read_text()), [n for n in args.drop.split(",") if n])
    document = {
        "_source": args.source,
        "_license": "Apache-2.0 (the upstream repository's LICENSE); trimmed by deploy/k8s/crds/trim_crd.py",
        **trimmed,
    }
    args.out.write_text(json.dumps(document, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
