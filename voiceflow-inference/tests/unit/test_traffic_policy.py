"""The pure traffic policy: A/B split proportions, sticky keys, pin, activation decisions, rollback targets."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

import pytest

from voiceflow_inference.lifecycle.activation import ON_ADMIN, ON_POLL, ON_STARTUP, ON_WATCH, Activation
from voiceflow_inference.lifecycle.errors import ReloadError
from voiceflow_inference.lifecycle.traffic_policy import HISTORY_LIMIT, Admission, TrafficPolicy


@dataclass(frozen=True)
class Model:
    version: str


def policy_with(*versions: str) -> TrafficPolicy[Model]:
    policy: TrafficPolicy[Model] = TrafficPolicy()
    for version in versions:
        policy.activate(Model(version))
    return policy


def test_without_a_split_every_request_goes_to_the_active_version() -> None:
    policy = policy_with("1.0.0")
    assert policy.route("any-key") is None and policy.route(None) is None
    assert policy.role("1.0.0") == "active" and policy.role("0.9.0") == "standby"


def within_binomial_bound(hits: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """``hits`` of ``n`` keys is a share that a fair split with probability ``p`` gives (within ``sigmas`` standard
    errors). The keys are fixed, so the check is deterministic; the bound says what a correct hash could give."""
    return abs(hits / n - p) <= sigmas * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        ({"1.0.0": 3.0, "1.1.0": 1.0}, {"1.0.0": 0.75, "1.1.0": 0.25}),
        ({"1.0.0": 0.5, "1.1.0": 0.5}, {"1.0.0": 0.5, "1.1.0": 0.5}),
        ({"1.1.0": 0.1, "1.0.0": 0.9}, {"1.0.0": 0.9, "1.1.0": 0.1}),
        ({"1.0.0": 1.0, "1.1.0": 1.0, "1.2.0": 2.0}, {"1.0.0": 0.25, "1.1.0": 0.25, "1.2.0": 0.5}),
    ],
)
def test_split_proportions_follow_the_weights(weights: dict[str, float], shares: dict[str, float]) -> None:
    """Over N keys each arm's share is within a binomial bound of its weight (checked from outside the hash)."""
    n = 4000
    policy = policy_with("1.0.0")
    policy.split(weights)
    assert policy.weights == pytest.approx(shares)
    counts = Counter(policy.route(f"request-{i}") for i in range(n))
    assert set(counts) == set(shares)
    for version, share in shares.items():
        assert within_binomial_bound(counts[version], n, share), (version, counts)
    assert policy.role("1.1.0") == "ab" and policy.role("1.0.0") == "active"


def test_random_draws_map_onto_the_cumulative_weights() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.1.0": 0.2, "1.0.0": 0.8})  # arms ordered by version: 1.0.0 covers [0, 0.8)
    assert policy.route(None, draw=lambda: 0.0) == "1.0.0"
    assert policy.route(None, draw=lambda: 0.79) == "1.0.0"
    assert policy.route(None, draw=lambda: 0.81) == "1.1.0"
    assert policy.route(None, draw=lambda: 0.999999) == "1.1.0"  # the last edge is exactly 1.0: no rounding gap


ARMS_SCRIPT = """
import json, sys
from voiceflow_inference.lifecycle.traffic_policy import TrafficPolicy
class M:
    def __init__(self, v): self.version = v
policy = TrafficPolicy()
policy.activate(M("1.0.0"))
policy.split({"1.0.0": 0.5, "1.1.0": 0.5})
print(json.dumps([policy.route(k) for k in json.loads(sys.argv[1])]))
"""


def test_the_same_key_always_gets_the_same_arm() -> None:
    """Sticky from outside: a key keeps its arm on repeat, in a fresh policy, and in another process (replicas)."""
    keys = [f"session-{i}" for i in range(200)]
    policy = policy_with("1.0.0")
    policy.split({"1.0.0": 0.5, "1.1.0": 0.5})
    arms = [policy.route(key) for key in keys]
    assert set(arms) == {"1.0.0", "1.1.0"}
    assert within_binomial_bound(arms.count("1.0.0"), len(keys), 0.5)
    assert all([policy.route(key) for key in keys] == arms for _ in range(3))
    fresh = policy_with("1.0.0")
    fresh.split({"1.0.0": 0.5, "1.1.0": 0.5})
    assert [fresh.route(key) for key in reversed(keys)] == arms[::-1]  # order and history play no part
    for seed in ("1", "2"):  # another replica, another str-hash salt: the same arms
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", ARMS_SCRIPT, json.dumps(keys)], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == arms, seed
    # Growing one arm's weight only moves keys into it: a key on the grown arm stays there.
    policy.split({"1.0.0": 0.2, "1.1.0": 0.8})
    assert all(policy.route(key) == "1.1.0" for key, arm in zip(keys, arms, strict=True) if arm == "1.1.0")


def test_clearing_the_split_and_splitting_drops_the_pin() -> None:
    policy = policy_with("1.0.0")
    policy.pin("1.0.0")
    policy.split({})  # clearing keeps the pin
    assert policy.pinned == "1.0.0"
    policy.split({"1.0.0": 1.0, "1.1.0": 1.0})
    assert policy.pinned is None
    policy.clear_split()
    assert policy.weights == {} and policy.route("k") is None


@pytest.mark.parametrize(
    ("weights", "keep", "message"),
    [
        ({"1.0.0": 1.0}, 3, "two or more"),
        ({"1.0.0": -1.0, "1.1.0": 1.0}, 3, ">= 0"),
        ({"1.0.0": 0.0, "1.1.0": 0.0}, 3, "not all zero"),
        ({"1.0.0": float("nan"), "1.1.0": 1.0}, 3, ">= 0"),
        ({"1.1.0": 1.0, "1.2.0": 1.0}, 2, "keep_versions is 2"),  # + the active 1.0.0
    ],
)
def test_unservable_splits_are_refused(weights: dict[str, float], keep: int, message: str) -> None:
    policy = policy_with("1.0.0")
    with pytest.raises(ReloadError, match=message) as refused:
        policy.check_split(weights, keep)
    assert refused.value.reason == "ab_invalid"


def test_split_versions_lose_their_v_prefix() -> None:
    assert policy_with("1.0.0").check_split({"v1.0.0": 1, "1.1.0": 1}, 3) == {"1.0.0": 1.0, "1.1.0": 1.0}


def test_follow_activates_unless_a_pin_or_a_split_holds_traffic() -> None:
    policy = policy_with("1.0.0")
    assert policy.admit("1.1.0", Activation.FOLLOW) is Admission.ACTIVATE
    policy.pin("1.0.0")
    assert policy.admit("1.1.0", Activation.FOLLOW) is Admission.HELD_BY_PIN
    assert policy.admit("1.0.0", Activation.FOLLOW) is Admission.ACTIVATE  # the pinned version itself
    policy.unpin()
    policy.split({"1.0.0": 1, "1.1.0": 1})
    assert policy.admit("1.2.0", Activation.FOLLOW) is Admission.HELD_BY_SPLIT
    assert policy.weights  # follow never changes the split
    assert policy.admit("1.2.0", Activation.STANDBY) is Admission.STANDBY
    assert not Admission.HELD_BY_SPLIT.activates and Admission.ACTIVATE.activates


def test_serve_clears_the_split_and_the_pin() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.0.0": 1, "1.1.0": 1})
    assert policy.admit("1.2.0", Activation.SERVE) is Admission.ACTIVATE
    assert policy.weights == {} and policy.pinned is None
    policy.pin("1.0.0")
    assert policy.admit("1.2.0", Activation.SERVE) is Admission.ACTIVATE and policy.pinned is None


def test_each_trigger_states_its_activation() -> None:
    assert (ON_ADMIN.activation, ON_WATCH.activation, ON_POLL.activation) == (
        Activation.SERVE,
        Activation.FOLLOW,
        Activation.FOLLOW,
    )
    assert ON_STARTUP.marks_seen and ON_POLL.marks_seen and not ON_WATCH.marks_seen and not ON_ADMIN.marks_seen
    assert ON_ADMIN.with_activation(False).activation is Activation.STANDBY
    assert ON_ADMIN.standby().trigger == "admin" and ON_ADMIN.with_activation(True) is ON_ADMIN


def test_protected_versions_are_the_active_the_arms_and_the_pin() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.1.0": 1, "1.2.0": 1})
    assert policy.protected() == {"1.0.0", "1.1.0", "1.2.0"}
    policy.serve_exactly(Model("1.3.0"))
    policy.pin("1.3.0")
    assert policy.protected() == {"1.3.0"}


def test_serve_exactly_keeps_a_pin_only_on_the_same_version() -> None:
    policy = policy_with("1.0.0")
    policy.pin("1.0.0")
    policy.serve_exactly(Model("1.0.0"))
    assert policy.pinned == "1.0.0"
    policy.serve_exactly(Model("1.1.0"))
    assert policy.pinned is None and policy.active == Model("1.1.0")


def test_rollback_targets_the_newest_previous_version_still_loaded() -> None:
    policy = policy_with("1.0.0", "1.1.0", "1.2.0")
    assert policy.rollback_target({"1.0.0", "1.1.0", "1.2.0"}) == "1.1.0"
    assert policy.rollback_target({"1.0.0", "1.2.0"}) == "1.0.0"
    with pytest.raises(ReloadError, match="no previous version") as refused:
        policy.rollback_target({"1.2.0"})
    assert refused.value.reason == "no_previous"


def test_history_collapses_repeats_and_is_bounded() -> None:
    policy = policy_with("1.0.0", "1.0.0", "1.1.0")
    assert policy.history == ["1.0.0", "1.1.0"]
    for i in range(HISTORY_LIMIT + 10):
        policy.activate(Model(f"2.0.{i}"))
    assert len(policy.history) == HISTORY_LIMIT and policy.history[-1] == f"2.0.{HISTORY_LIMIT + 9}"
