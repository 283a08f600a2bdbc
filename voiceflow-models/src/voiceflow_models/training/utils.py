"""Helpers shared by train.py and eval.py (lightning-hydra-template style): instantiation, config printing, resume."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich import print as rprint
from rich.syntax import Syntax

log = logging.getLogger(__name__)


def instantiate_callbacks(callbacks_cfg: DictConfig | None, has_logger: bool = True) -> list[L.Callback]:
    """Every ``_target_`` node of ``callbacks_cfg``.

    LearningRateMonitor is skipped without a logger (Lightning refuses it then).
    """
    callbacks: list[L.Callback] = []
    if not callbacks_cfg:
        return callbacks
    if not isinstance(callbacks_cfg, DictConfig):
        raise TypeError("callbacks config must be a DictConfig of named callbacks")
    for name, cb_conf in callbacks_cfg.items():
        if not isinstance(cb_conf, DictConfig) or "_target_" not in cb_conf:
            continue
        if not has_logger and cb_conf._target_.endswith("LearningRateMonitor"):
            log.info("Skipping callback <%s>: it needs a logger", name)
            continue
        callbacks.append(instantiate(cb_conf))
    return callbacks


def instantiate_loggers(logger_cfg: DictConfig | None) -> list[Any]:
    """Every ``_target_`` node of ``logger_cfg`` (empty list for none)."""
    loggers: list[Any] = []
    if not logger_cfg:
        return loggers
    if not isinstance(logger_cfg, DictConfig):
        raise TypeError("logger config must be a DictConfig of named loggers")
    for lg_conf in logger_cfg.values():
        if isinstance(lg_conf, DictConfig) and "_target_" in lg_conf:
            loggers.append(instantiate(lg_conf))
    return loggers


def mlflow_run_id(loggers: list[Any]) -> str | None:
    """The run id of the first MLflow logger (it starts the run on first access), else None."""
    for lg in loggers:
        if type(lg).__name__ == "MLFlowLogger":
            return str(lg.run_id)
    return None


def apply_extras(cfg: DictConfig) -> None:
    """Optional utilities from ``cfg.extras``: silence warnings, require tags, print and save the config tree."""
    extras = cfg.get("extras")
    if not extras:
        return
    if extras.get("ignore_warnings"):
        warnings.filterwarnings("ignore")
    if extras.get("enforce_tags") and not cfg.get("tags"):
        raise ValueError("extras.enforce_tags: set tags=[...] for this run")
    if extras.get("print_config"):
        print_config_tree(cfg, save_to=Path(cfg.paths.output_dir) / "config_tree.log")


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Pretty-print the resolved config (rich) and optionally save it as YAML text."""
    text = OmegaConf.to_yaml(cfg, resolve=True)
    rprint(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        save_to.write_text(text)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str | Path, log_dir: str | Path, task_name: str) -> str | None:
    """Turn the ``ckpt_path`` setting into a checkpoint file (or None).

    ``"last"`` means ``<output_dir>/checkpoints/last.ckpt`` when it exists, else the most recently modified
    ``last.ckpt`` of earlier runs of this task (``<log_dir>/<task_name>/**/checkpoints/last.ckpt``). Any other value
    must be an existing file. Raises ``FileNotFoundError`` naming what was looked for.
    """
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        here = Path(output_dir) / "checkpoints" / "last.ckpt"
        if here.is_file():
            return str(here)
        earlier = sorted(
            (Path(log_dir) / task_name).glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        if earlier:
            return str(earlier[0])
        raise FileNotFoundError(
            f"ckpt_path=last: no {here} and no earlier {Path(log_dir) / task_name}/**/checkpoints/last.ckpt"
        )
    path = Path(str(ckpt_path))
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: checkpoint not found: {path}")
    return str(path)


def metric_value(metric_dict: dict[str, Any], metric_name: str | None) -> float | None:
    """The value of ``metric_name`` for Optuna (None when unset); raises ``KeyError`` listing the available metrics."""
    if not metric_name:
        return None
    if metric_name not in metric_dict:
        raise KeyError(f"optimized_metric '{metric_name}' not logged; available: {sorted(metric_dict)}")
    value = metric_dict[metric_name]
    return float(value.item() if hasattr(value, "item") else value)
