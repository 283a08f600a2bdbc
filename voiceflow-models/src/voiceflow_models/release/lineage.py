"""Lineage for metadata.json: git commit, training config (+ hash), dataset fingerprint, seed, package versions."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

PACKAGES = (
    "voiceflow-models",
    "voiceflow-contract",
    "torch",
    "torchaudio",
    "pytorch-lightning",
    "hydra-core",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "numpy",
)


def git_commit(cwd: str | Path | None = None) -> str:
    """`git rev-parse --short HEAD` of the source tree (this package's folder by default), "unknown" outside git."""
    where = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape a model (missing ones are left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def stable_hash(value: Any) -> str:
    """sha256 of the canonical JSON form (sorted keys): equal configs hash equal."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def load_hydra_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved training config of a Hydra run (<run_dir>/.hydra/config.yaml) as a plain dict."""
    path = Path(run_dir) / ".hydra" / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"run_dir: no Hydra config at {path}")
    cfg = OmegaConf.load(path)
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # ${hydra:...} resolvers only exist inside a Hydra run; keep the interpolations verbatim
        container = OmegaConf.to_container(cfg, resolve=False)
    if not isinstance(container, dict):
        raise ValueError(f"run_dir: {path} is not a mapping")
    return {str(k): v for k, v in container.items()}


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _short_target(target: Any) -> str | None:
    return str(target).rsplit(".", 1)[-1] if target else None


@dataclass
class TrainingFacts:
    """What we know about a training run, merged from the checkpoint entry and the Hydra config."""

    dataset: str = "synthetic-conversations"
    epochs: int = 0
    batch_size: int = 1
    optimizer: str = "AdamW"
    learning_rate: float = 1e-3
    seed: int = 0
    dataset_fingerprint: str = "unknown"
    config: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    mlflow_run_id: str | None = None

    @property
    def config_hash(self) -> str:
        """Hash of the training config (of the checkpoint's training summary when no config is known)."""
        return stable_hash(self.config) if self.config else "unknown"


def training_facts(
    config: dict[str, Any] | None = None, checkpoint_info: dict[str, Any] | None = None
) -> TrainingFacts:
    """Merge the Hydra config and the checkpoint's `voiceflow` entry; the checkpoint wins where both speak."""
    info = checkpoint_info or {}
    cfg = config or (info.get("config") if isinstance(info.get("config"), dict) else None) or {}
    trained = info.get("training") or {}
    facts = TrainingFacts(config=cfg)
    data_name = _get(cfg, "data.name") or _short_target(_get(cfg, "data._target_"))
    described = info.get("dataset")
    if isinstance(described, dict | list):
        described = json.dumps(described, sort_keys=True, default=str)
    facts.dataset = str(described or data_name or facts.dataset)
    facts.epochs = int(trained.get("epochs") or _get(cfg, "trainer.max_epochs") or 0)
    facts.batch_size = max(1, int(trained.get("batch_size") or _get(cfg, "data.batch_size") or 1))
    facts.optimizer = str(trained.get("optimizer") or _short_target(_get(cfg, "model.optimizer._target_")) or "AdamW")
    lr = trained.get("learning_rate") or _get(cfg, "model.optimizer.lr")
    facts.learning_rate = float(lr) if lr else facts.learning_rate
    seed = info.get("seed", _get(cfg, "seed"))
    facts.seed = int(seed) if isinstance(seed, int | float | str) and str(seed).lstrip("-").isdigit() else 0
    fingerprint = info.get("dataset_fingerprint") or _get(cfg, "data.fingerprint")
    if not fingerprint and isinstance(cfg.get("data"), dict):
        fingerprint = "config:" + stable_hash(cfg["data"])[:16]  # the synthetic data is a pure function of its config
    facts.dataset_fingerprint = str(fingerprint or "unknown")
    facts.profile = info.get("profile")
    run_id = info.get("mlflow_run_id")
    facts.mlflow_run_id = str(run_id) if run_id else None
    return facts
