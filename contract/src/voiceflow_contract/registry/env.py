"""Which registry the environment names: ``$VOICEFLOW_REGISTRY_URL`` (documented), else ``$VOICEFLOW_REGISTRY``.

Every registry CLI, :class:`ModelRegistry` and the inference server read the same two variables in the same order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_REGISTRY = "VOICEFLOW_REGISTRY_URL"
"""The registry URL variable (the documented name)."""
ENV_REGISTRY_ALIAS = "VOICEFLOW_REGISTRY"
"""Also accepted, when ``VOICEFLOW_REGISTRY_URL`` is unset or empty."""


def registry_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``$VOICEFLOW_REGISTRY_URL``, else ``$VOICEFLOW_REGISTRY``, else None."""
    env = os.environ if environ is None else environ
    return env.get(ENV_REGISTRY) or env.get(ENV_REGISTRY_ALIAS) or None


__all__ = ["ENV_REGISTRY", "ENV_REGISTRY_ALIAS", "registry_from_env"]
