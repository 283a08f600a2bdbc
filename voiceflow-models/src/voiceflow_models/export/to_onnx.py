"""Export a trained DiarizationModel to a contract-shaped ONNX file and prove it computes what PyTorch computes.

The exported graph has the contract's input (`audio` float32 [batch_size, WINDOW_SAMPLES]) and outputs
(`speaker_embeddings`, the softmax of the logits, and optionally `embedding`), named by voiceflow_contract.spec.
Export rules for torch 2.13 (see /work/shared/notes/ml-stack-probe.md):
dynamo=True, external_data=False (one self-contained file for the registry), opset 18, a dynamic batch declared with
dynamic_shapes, and a batch-2 example (a batch-1 example can silently pin the batch dimension to 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from rich.console import Console
from torch import nn

from voiceflow_contract.errors import VoiceFlowError
from voiceflow_contract.spec import EMBEDDING_OUTPUT, INPUT_NAME, PROBABILITIES_OUTPUT, SAMPLE_RATE, WINDOW_SAMPLES
from voiceflow_models.export.architecture import ArchitectureInfo, describe
from voiceflow_models.export.parity import DEFAULT_TOLERANCE, ParityReport, compare, ort_runner
from voiceflow_models.models.lit_module import load_network

DEFAULT_OPSET = 18
# Keys under which the exported file carries its own description (read back by publish/version_bump).
META_PREFIX = "voiceflow."
# ArchitectureInfo field -> metadata key, named like semver.ModelSignature's fields where they overlap.
_META_KEYS = {"type": "architecture_type", "name": "architecture_name", "signature": "architecture_signature"}


class ExportError(VoiceFlowError):
    """The network cannot be exported to the contract's shape."""


@dataclass
class ExportResult:
    """What an export produced and how closely it matches PyTorch."""

    path: Path
    opset: int
    outputs: list[str]
    architecture: ArchitectureInfo
    size_bytes: int
    parity: ParityReport | None
    export_seconds: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "path": str(self.path),
            "opset": self.opset,
            "outputs": self.outputs,
            "architecture": asdict(self.architecture),
            "size_bytes": self.size_bytes,
            "parity": self.parity.to_dict() if self.parity else None,
            "export_seconds": round(self.export_seconds, 3),
        }


class ContractHead(nn.Module):
    """Wrap a network so its outputs are the contract's: softmax probabilities (+ the embedding)."""

    def __init__(self, network: nn.Module, with_embedding: bool = True) -> None:
        super().__init__()
        self.network = network
        self.with_embedding = with_embedding

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """audio [B, WINDOW_SAMPLES] -> (speaker_embeddings [B, S], embedding [B, E]) or (speaker_embeddings,)."""
        logits, embedding = self.network(audio)
        probs = torch.softmax(logits, dim=-1)
        return (probs, embedding) if self.with_embedding else (probs,)


def _torch_runner(head: ContractHead, names: Sequence[str]):
    def run(audio: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outs = head(torch.from_numpy(audio))
        return {n: o.detach().cpu().numpy() for n, o in zip(names, outs, strict=True)}

    return run


def _check_network(network: nn.Module, info: ArchitectureInfo) -> None:
    """Refuse networks that cannot satisfy the contract, before spending time on an export."""
    if info.sample_rate != SAMPLE_RATE or info.window_samples != WINDOW_SAMPLES:
        raise ExportError(
            f"contract.input: network expects {info.window_samples} samples at {info.sample_rate} Hz, "
            f"contract is {WINDOW_SAMPLES} at {SAMPLE_RATE}"
        )
    with torch.inference_mode():
        out = network(torch.zeros(2, WINDOW_SAMPLES))
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ExportError("model.forward must return (logits, embedding)")
    logits, embedding = out
    if logits.ndim != 2 or logits.shape[0] != 2 or logits.shape[1] < 2:
        raise ExportError(f"contract.output: logits must be [batch, num_speakers>=2], got {tuple(logits.shape)}")
    if embedding.ndim != 2 or embedding.shape[0] != 2:
        raise ExportError(
            f"contract.optional_outputs.embedding: must be [batch, embedding_dim], got {tuple(embedding.shape)}"
        )


def write_onnx_metadata(path: Path, info: ArchitectureInfo, extra: dict[str, str] | None = None) -> None:
    """Stamp the architecture description into the file's metadata_props (kept through optimisation by optimize.py)."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update({f"{META_PREFIX}{_META_KEYS.get(k, k)}": str(v) for k, v in asdict(info).items()})
    props.update(extra or {})
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def read_onnx_metadata(path: str | Path) -> dict[str, str]:
    """The voiceflow.* metadata of an exported file, prefix stripped (empty if it has none)."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key.removeprefix(META_PREFIX): p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


def export_onnx(
    model: nn.Module,
    out_path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    with_embedding: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    check_parity: bool = True,
    batch_sizes: Sequence[int] = (1, 8),
) -> ExportResult:
    """Export `model` (forward(audio) -> (logits, embedding)) to `out_path` and check parity with PyTorch in ORT.

    Raises ExportError if the network does not fit the contract and ParityError if any output on random or silent
    input at any of `batch_sizes` differs from PyTorch by more than `tolerance`.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    network = model.eval().cpu()
    info = describe(network)
    _check_network(network, info)
    head = ContractHead(network, with_embedding).eval()
    names = [PROBABILITIES_OUTPUT, EMBEDDING_OUTPUT] if with_embedding else [PROBABILITIES_OUTPUT]
    example = (torch.randn(2, WINDOW_SAMPLES) * 0.1,)  # batch 2: a batch-1 example can freeze the batch dimension

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's deprecation chatter; real failures raise
        try:
            torch.onnx.export(
                head,
                example,
                str(out),
                dynamo=True,
                external_data=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_shapes={INPUT_NAME: {0: torch.export.Dim("batch_size")}},
                verbose=False,
            )
        except Exception as exc:  # torch raises many unrelated types; surface one clear error
            raise ExportError(f"torch.onnx.export failed for {info.name}: {exc}") from exc
    elapsed = time.perf_counter() - started
    write_onnx_metadata(out, info)
    onnx.checker.check_model(str(out))
    actual_opset = next((o.version for o in onnx.load(str(out)).opset_import if o.domain in ("", "ai.onnx")), opset)

    parity = None
    if check_parity:
        parity = compare(_torch_runner(head, names), ort_runner(out), tolerance=tolerance, batch_sizes=batch_sizes)
        parity.raise_if_failed(f"ONNX export of {info.name} vs PyTorch")
    return ExportResult(out, actual_opset, names, info, out.stat().st_size, parity, elapsed)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: export a Lightning checkpoint to model.onnx and print the parity report."""
    parser = argparse.ArgumentParser(prog="voiceflow-export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="Lightning checkpoint (.ckpt) of a trained model"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("model.onnx"), help="ONNX file to write (default: model.onnx)"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default: 18)")
    parser.add_argument(
        "--no-embedding", action="store_true", help="export only speaker_embeddings (no embedding output)"
    )
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max abs diff allowed vs PyTorch")
    parser.add_argument("--report", type=Path, help="also write the export/parity report as JSON here")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    if not args.checkpoint.is_file():
        console.print(f"[red]checkpoint not found: {args.checkpoint}")
        return 2
    with console.status(f"loading {args.checkpoint}"):
        network = load_network(args.checkpoint)
    try:
        with console.status(f"exporting to {args.output} and checking parity"):
            result = export_onnx(
                network, args.output, opset=args.opset, with_embedding=not args.no_embedding, tolerance=args.tolerance
            )
    except VoiceFlowError as exc:
        console.print(f"[red]export failed: {exc}")
        return 1
    max_diff = result.parity.max_abs_diff if result.parity else float("nan")
    console.print(
        f"[green]exported[/] {result.path} ({result.size_bytes / 1e6:.2f} MB, opset {result.opset}, "
        f"{result.architecture.params:,} params, outputs {result.outputs}); "
        f"parity max abs diff {max_diff:.3g} <= {args.tolerance:g} "
        f"over batch 1 and 8, random and silence"
    )
    if args.report:
        args.report.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
