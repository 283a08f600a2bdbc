"""Every training/evaluation command line in the docs, READMEs and config comments works as typed, from any directory.

The lines are extracted from the files themselves (so a new doc line is tested the day it is written) and run
verbatim in a fresh temporary working directory, shortened with ``debug=fdr`` and a small data override. The fast suite
composes every line and runs one real multirun sweep; the slow suite runs every line that this machine can run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from voiceflow_models.training.config import compose_config
from voiceflow_models.training.train import train

REPO = Path(__file__).resolve().parents[2]
CONFIGS = Path(str(files("voiceflow_models.configs")))
_COMMAND = re.compile(
    r"(voiceflow-train|voiceflow-eval|python -m voiceflow_models\.training\.(?:train|eval))((?:[ \t]+[^\s`#|;]+)+)"
)
# Module each command runs (a console script not installed yet in this venv runs as `python -m`).
MODULES = {
    "voiceflow-train": "voiceflow_models.training.train",
    "voiceflow-eval": "voiceflow_models.training.eval",
    "python -m voiceflow_models.training.train": "voiceflow_models.training.train",
    "python -m voiceflow_models.training.eval": "voiceflow_models.training.eval",
}
# Lines that need what this machine lacks (GPUs, a corpus, pretrained weights): composed, not run.
NEEDS_MORE = ("trainer=ddp", "trainer=gpu", "trainer=mps", "_gpu", "data.root=/", "pretrained=/", "srun ")
SMALL_DATA = [
    "++data.num_train_voices=4",
    "++data.num_val_voices=2",
    "++data.num_test_voices=2",
    "++data.windows_per_epoch=64",
    "++data.val_windows=32",
    "++data.test_windows=32",
    "++data.batch_size=16",
    "++data.seconds_per_voice=4",
    "++data.num_val_conversations=1",
    "++data.num_test_conversations=1",
    "++data.conversation_duration_s=6",
    "extras.print_config=false",
]
SWEEP = "voiceflow-train -m debug=fdr seed=1,2"
OPTUNA = "python -m voiceflow_models.training.train -m hparams_search=fast_cnn_optuna experiment=fast_cnn_synthetic"


def documented_files() -> list[Path]:
    docs = sorted((REPO / "docs").glob("*.md")) + sorted(REPO.glob("*.md")) + sorted(REPO.glob("*/README.md"))
    return docs + sorted(CONFIGS.rglob("*.yaml")) + sorted(CONFIGS.rglob("README.md"))


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def documented_commands() -> list[str]:
    """Every distinct command line (with at least one argument), trailing comments removed."""
    found: dict[str, None] = {}
    for path in documented_files():
        text = path.read_text()
        if path.suffix == ".yaml":  # only the comments of a config speak to people
            text = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
        for line in _logical_lines(text):
            for match in _COMMAND.finditer(line):
                prefix = line[: match.start()].split("`")[-1].strip()
                command = " ".join(match.group(0).split())
                found[f"{prefix} {command}".strip() if prefix.startswith("srun") else command] = None
    return list(found)


def split(command: str) -> tuple[str, list[str]]:
    """(module, arguments) of a command line."""
    words = shlex.split(command.removeprefix("srun "))
    for name, module in MODULES.items():
        width = len(name.split())
        if " ".join(words[:width]) == name:
            return module, words[width:]
    raise AssertionError(f"not a training command: {command}")


def runnable(command: str) -> bool:
    return not any(marker in command for marker in NEEDS_MORE)


def argv(command: str) -> list[str]:
    """What the command runs: the installed console script when there is one, else the module."""
    module, args = split(command)
    script = command.split()[0]
    if script.startswith("voiceflow-") and (found := shutil.which(script)):
        return [found, *args]
    return [sys.executable, "-m", module, *args]


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("VOICEFLOW_ROOT", "ARTIFACTS", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / p / "src") for p in ("contract", "voiceflow-models", "voiceflow-inference")]
        + [env.get("PYTHONPATH", "")]
    )
    return env


def run(command: str, cwd: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*argv(command), *extra], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=900, check=False
    )


COMMANDS = documented_commands()


def test_the_documented_commands_are_found():
    assert SWEEP in COMMANDS and OPTUNA in COMMANDS
    assert any(c.startswith("voiceflow-eval ckpt_path=") for c in COMMANDS)
    assert any("logger=mlflow" in c for c in COMMANDS) and any("logger=tensorboard" in c for c in COMMANDS)
    assert not any(c.endswith("\\") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_command_composes(command, tmp_path):
    module, args = split(command)
    overrides = [a for a in args if a != "-m"]
    if "-m" in args:  # a sweep composes like each of its jobs: the first value of every swept key
        overrides = [re.sub(r"=([^=,]+),.*$", r"=\1", a) if "=" in a else a for a in overrides]
    cfg = compose_config(overrides, tmp_path, config_name="eval" if module.endswith(".eval") else "train")
    assert cfg.paths.root_dir and cfg.task_name


def test_the_sweep_from_the_docs_runs_as_typed_from_another_directory(tmp_path):
    result = run(SWEEP, tmp_path, SMALL_DATA)
    assert result.returncode == 0, result.stderr[-4000:]
    sweeps = list((tmp_path / "outputs" / "debug" / "multiruns").iterdir())
    assert len(sweeps) == 1
    assert (sweeps[0] / "multirun.yaml").is_file()
    assert {p.name for p in sweeps[0].iterdir() if p.is_dir()} >= {"0", "1"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("doc-ckpt")
    cfg = compose_config(
        [*SMALL_DATA, "trainer.max_epochs=1", "test=false", "test_conversations=false", "publish_dir=null"], out
    )
    _, objects = train(cfg)
    return Path(objects["best_checkpoint"])


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in COMMANDS if runnable(c) and c != SWEEP])
def test_documented_command_runs_as_typed(command, tmp_path, request):
    if "ckpt_path=" in command:
        ckpt = request.getfixturevalue("checkpoint")
        given = re.search(r"ckpt_path=(\S+)", command).group(1)
        if given == "PATH":
            command = command.replace("ckpt_path=PATH", f"ckpt_path={ckpt}")
        else:  # a path relative to where the user stands: put a real checkpoint there
            (tmp_path / given).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ckpt, tmp_path / given)
    if "hparams_search=" in command:  # fast_dev_run logs no val/acc_best for Optuna: two short trials instead
        extra = [
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.sampler.n_startup_trials=2",
            "++trainer.limit_train_batches=2",
            "++trainer.limit_val_batches=1",
            "trainer.max_epochs=1",
            "test=false",
            "logger=none",
        ]
    elif split(command)[0].endswith(".eval"):  # eval.yaml has no debug group
        extra = ["++trainer.fast_dev_run=true"]
    else:
        extra = ["debug=fdr"]
    result = run(command, tmp_path, [*extra, *SMALL_DATA])
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "outputs").is_dir()
