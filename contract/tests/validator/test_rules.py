"""The rule catalogue and the collector: every report lists every rule, in order, blocked rules as SKIPPED."""

from __future__ import annotations

from voiceflow_contract.schemas.report import CheckStatus
from voiceflow_contract.spec import load_contract
from voiceflow_contract.validator import BASE_RULES, RUNTIME_RULES, rule_names
from voiceflow_contract.validator.rules import MESSAGE_LIMIT, Checks, short


def test_rule_names_place_optional_outputs_and_batches() -> None:
    contract = load_contract()
    names = rule_names(contract)
    assert names[: len(BASE_RULES)] == list(BASE_RULES)
    assert names[-len(RUNTIME_RULES) + 1 :] == list(RUNTIME_RULES[1:])
    for spec in contract.optional_outputs:
        assert names.index(f"output.{spec.name}") < names.index("runtime.session")
    batches = [f"runtime.batch_{b}" for b in contract.validation.batch_sizes]
    assert names[names.index("runtime.session") + 1 : names.index("output.num_speakers")] == batches


def test_blocked_rules_are_skipped_with_the_reason() -> None:
    checks = Checks()
    checks.ok("file.exists", "here")
    assert not checks.fail("file.size", "too big")
    checks.block("file.size failed")
    checks.block("a later reason never replaces the first")
    ordered = checks.ordered(["file.exists", "file.size", "file.readable"])
    assert [c.status for c in ordered] == [CheckStatus.PASSED, CheckStatus.FAILED, CheckStatus.SKIPPED]
    assert ordered[2].message == "not run: file.size failed"


def test_rules_outside_the_catalogue_are_kept_at_the_end() -> None:
    checks = Checks()
    checks.fail("validator.error", "boom")
    assert [c.name for c in checks.ordered(["file.exists"])] == ["file.exists", "validator.error"]


def test_messages_are_one_bounded_line() -> None:
    assert short("a\n  b\tc") == "a b c"
    long = short("x" * 1000)
    assert len(long) == MESSAGE_LIMIT and long.endswith("...")
