"""The reply budget: what a host sent plus a slowly refilling allowance, never more."""

from __future__ import annotations

import pytest

from appliance.control.budget import ReplyBudget, WorkBudget


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


def test_the_work_budget_pauses_for_as_long_as_the_overdraft_takes_to_earn_back() -> None:
    work = WorkBudget(share=0.2, burst=0.05)
    assert work.spend(0.01, 100.0) == 0.0  # within the burst
    assert work.spend(0.05, 100.0) == pytest.approx(0.05)  # 0.01 s over: 0.05 s at a 20 % share
    assert work.spend(0.0, 100.3) == 0.0 and work.pauses == 1  # earned back (and more, up to the burst)
