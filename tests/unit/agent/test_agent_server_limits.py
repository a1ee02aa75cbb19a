"""The agent server's link budgets and its idle-timeout setting, without sockets: data links
can never use up the operators' budget, and a bad ``AUTHEX_DATA_IDLE_TIMEOUT`` is refused
with a message that says what to set."""

from __future__ import annotations

import pytest

from authex.agent.server import (
    DATA_IDLE_TIMEOUT,
    MAX_CONTROL_LINKS,
    MAX_DATA_LINKS,
    MAX_DATA_LINKS_PER_HOST,
    LinkBudgets,
    data_idle_timeout,
)
from authex.errors import AuthexError


def test_full_data_budgets_leave_the_control_budget_alone() -> None:
    budgets = LinkBudgets()
    for _ in range(MAX_DATA_LINKS_PER_HOST):
        assert budgets.admit("127.0.0.1", control=False) is None
    refused = budgets.admit("127.0.0.1", control=False)
    assert refused == f"too many open data links from 127.0.0.1 ({MAX_DATA_LINKS_PER_HOST})"
    assert budgets.admit("127.0.0.1", control=True) is None  # the operator, same address
    budgets.release("127.0.0.1", control=False)
    assert budgets.admit("127.0.0.1", control=False) is None


def test_the_global_data_budget_and_the_control_budget() -> None:
    budgets = LinkBudgets()
    n = 0
    while budgets.data < MAX_DATA_LINKS:  # from many addresses, each under its own limit
        assert budgets.admit(f"127.0.{n // 250}.{n % 250 + 1}", control=False) is None
        n += 1
    assert budgets.admit("10.9.9.9", control=False) == (
        f"too many open data links ({MAX_DATA_LINKS})"
    )
    for _ in range(MAX_CONTROL_LINKS):
        assert budgets.admit("10.9.9.9", control=True) is None
    assert budgets.admit("10.9.9.9", control=True) == (
        f"too many open operator links ({MAX_CONTROL_LINKS})"
    )
    budgets.release("10.9.9.9", control=True)
    assert budgets.admit("10.9.9.9", control=True) is None
    for host in list(budgets.data_per_host):
        for _ in range(budgets.data_per_host[host]):
            budgets.release(host, control=False)
    assert budgets.data == 0 and not budgets.data_per_host


def test_idle_timeout_setting() -> None:
    assert data_idle_timeout({}) == DATA_IDLE_TIMEOUT
    assert data_idle_timeout({"AUTHEX_DATA_IDLE_TIMEOUT": " "}) == DATA_IDLE_TIMEOUT
    assert data_idle_timeout({"AUTHEX_DATA_IDLE_TIMEOUT": "0.5"}) == 0.5
    for bad in ("0", "-3", "soon", "nan", "inf"):
        with pytest.raises(AuthexError, match=r"AUTHEX_DATA_IDLE_TIMEOUT=.* set it to one"):
            data_idle_timeout({"AUTHEX_DATA_IDLE_TIMEOUT": bad})
