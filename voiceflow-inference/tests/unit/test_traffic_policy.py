"""The pure traffic policy: A/B split proportions, sticky keys, pin, activation decisions, rollback targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from voiceflow_inference.lifecycle.activation import ON_ADMIN, ON_POLL, ON_STARTUP, ON_WATCH, Activation
from voiceflow_inference.lifecycle.errors import ReloadError
from voiceflow_inference.lifecycle.traffic_policy import HISTORY_LIMIT, Admission, TrafficPolicy, sticky_unit


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


def test_split_proportions_follow_the_weights() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.0.0": 3.0, "1.1.0": 1.0})
    assert policy.weights == {"1.0.0": 0.75, "1.1.0": 0.25}
    counts = Counter(policy.route(f"request-{i}") for i in range(4000))
    assert set(counts) == {"1.0.0", "1.1.0"}
    assert counts["1.1.0"] / 4000 == pytest.approx(0.25, abs=0.03)
    assert policy.role("1.1.0") == "ab" and policy.role("1.0.0") == "active"


def test_random_draws_map_onto_the_cumulative_weights() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.1.0": 0.2, "1.0.0": 0.8})  # arms ordered by version: 1.0.0 covers [0, 0.8)
    assert policy.route(None, draw=lambda: 0.0) == "1.0.0"
    assert policy.route(None, draw=lambda: 0.79) == "1.0.0"
    assert policy.route(None, draw=lambda: 0.81) == "1.1.0"
    assert policy.route(None, draw=lambda: 0.999999) == "1.1.0"  # the last edge is exactly 1.0: no rounding gap


def test_the_same_key_always_gets_the_same_arm() -> None:
    policy = policy_with("1.0.0")
    policy.split({"1.0.0": 0.5, "1.1.0": 0.5})
    for i in range(200):
        key = f"session-{i}"
        arm = policy.route(key)
        assert arm == ("1.0.0" if sticky_unit(key) < 0.5 else "1.1.0")
        assert all(policy.route(key) == arm for _ in range(3))
    assert 0.0 <= sticky_unit("x") < 1.0 and sticky_unit("x") == sticky_unit("x")


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
