"""Compose the packaged Hydra configs outside ``@hydra.main`` (tests, notebooks, other tools).

The result resolves like a real run: ``hydra:`` interpolations work because the composed Hydra config is installed
as the current one, and every run folder points at ``output_dir``.

``register_resolvers`` installs ``${voiceflow.launch_cwd:}``, the directory the command was started from. The path
configs use it instead of ``${hydra:runtime.cwd}``, which Hydra cannot resolve while a multirun builds its sweep
directory (``HydraConfig was not set``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

CONFIG_MODULE = "voiceflow_models.configs"
LAUNCH_CWD_RESOLVER = "voiceflow.launch_cwd"


def launch_cwd() -> str:
    """Hydra's ``runtime.cwd`` inside a job, else the process's working directory (sweep set-up, plain compose)."""
    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.cwd)
    return str(Path.cwd())


def register_resolvers() -> None:
    """Install the OmegaConf resolvers the packaged configs use (idempotent)."""
    if not OmegaConf.has_resolver(LAUNCH_CWD_RESOLVER):
        OmegaConf.register_new_resolver(LAUNCH_CWD_RESOLVER, launch_cwd)


def compose_config(
    overrides: Sequence[str] = (), output_dir: str | Path | None = None, config_name: str = "train"
) -> DictConfig:
    """``train``/``eval`` config with Hydra-style ``overrides``; run outputs (and logs) go under ``output_dir``."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    if output_dir is not None:
        out = str(Path(output_dir).resolve())
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = out
            cfg.hydra.job.num = 0
            cfg.paths.output_dir = out
            cfg.paths.log_dir = out
            cfg.paths.root_dir = out
    HydraConfig.instance().set_config(cfg)
    return cfg
