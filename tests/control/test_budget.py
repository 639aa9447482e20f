"""The reply budget: what a host sent plus a slowly refilling allowance, never more."""

from __future__ import annotations

from appliance.control.budget import ReplyBudget


def test_a_host_gets_what_it_sent_plus_the_allowance() -> None:
    budget = ReplyBudget(allowance=100.0, refill=10.0, size=2)
    assert budget.spend("a", 100, 0.0) and not budget.spend("a", 1, 0.0)  # the allowance, then nothing
    budget.received("a", 40, 0.0)
    assert budget.spend("a", 40, 0.0) and not budget.spend("a", 5, 0.0)
    assert budget.spend("a", 50, 5.0)  # 5 s at 10 bytes/s
    assert budget.refused == 2
    budget.spend("b", 100, 6.0)
    budget.spend("c", 100, 6.0)  # "a" is forgotten (bounded): it starts again with the allowance
    assert budget.spend("a", 100, 6.0)
