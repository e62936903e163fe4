"""State-file holes the fuzzer kept finding one at a time: each damage is refused with exit 3 and the JSON
path, by every command that reads the state — never a KeyError/TypeError mid-run (exit 1)."""
from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from tests.commands.conftest import ONE_COIN, Kairos, sha256

Damage = Callable[[dict[str, Any]], None]


def leg(st: dict[str, Any]) -> dict[str, Any]:
    return st["plans"][0]["legs"][0]


DAMAGES: list[tuple[str, Damage, str]] = [
    ("plan-kind-deleted", lambda st: st["plans"][0].pop("kind"), "plans[0].kind"),
    ("plan-regime-deleted", lambda st: st["plans"][0].pop("regime"), "plans[0].regime"),
    ("leg-waiting-text", lambda st: leg(st).update(waiting="x"), "plans[0].legs[0].waiting"),
    ("leg-volatile-deleted", lambda st: leg(st).pop("volatile"), "plans[0].legs[0].volatile"),
    ("leg-side-lowercase", lambda st: leg(st).update(side="buy"), "plans[0].legs[0].side"),
    ("tick-null", lambda st: leg(st)["ticks"][0].__setitem__(0, None),
     "plans[0].legs[0].ticks[0][0]: expected a number, got null"),
    ("rebalance-at-not-iso", lambda st: st["rebalance"].update(at="yesterday"), "rebalance.at"),
    ("leg-target-unknown", lambda st: leg(st).update(target="ZZZ"), "plans[0].legs[0].target: 'ZZZ' is not one of the plan's coins"),
]


@pytest.mark.parametrize("damage, where", [(d, w) for _, d, w in DAMAGES], ids=[i for i, _, _ in DAMAGES])
@pytest.mark.parametrize("command", ["--twap-status", "--process-twap", "--quarterly-rebalance"])
def test_a_damaged_state_is_refused_with_exit_3_naming_the_path(kairos: Kairos, damage: Damage, where: str,
                                                                 command: str) -> None:
    kairos.configure(strategy={"portfolio": ONE_COIN})
    assert kairos("--quarterly-rebalance-twap").code == 0
    state = kairos.state()
    damage(state)
    kairos.state_file.write_text(json.dumps(state), encoding="utf-8")
    digest = sha256(kairos.state_file)
    kairos.step(minutes=30)
    result = kairos(command, "--lang", "en")
    assert result.code == 3, result.err
    assert where in result.err and "NOT changed" in result.err
    assert sha256(kairos.state_file) == digest
