"""Strict outcomes: with ``RFQCORE_STRICT_SKIPS=1`` (set by ``make test``), a skip is a failure
unless its reason is a known environment reason, and so are expected failures.

A test that skips itself silently hides what it was meant to check: a broken code path that a
fixture turns into skips leaves pytest exiting 0. Only these reasons may skip, because they say
the machine lacks something the suite cannot provide, and CI provides all of them:

- the recorded venue data (``../shared/data`` or ``$RFQCORE_DATA``) is absent;
- PostgreSQL (its server binaries or the ``psycopg`` driver) is not installed.

An ``xfail`` that fails, or passes, is treated the same way: a known-broken test is a hole in
the net and a fixed one must lose its mark; both fail under strict mode unless the reason is
allowed above. The conftest's hooks call :func:`strict_report`.
"""

from __future__ import annotations

import os
import re

import pytest

ENV_VAR = "RFQCORE_STRICT_SKIPS"

#: Skip reasons that name a missing part of the environment (matched at the start of the reason).
ALLOWED_SKIPS: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"recorded (venue |Binance |OKX )?(data|capture) (absent|not found|missing)",  # ../shared/data absent
    r"PostgreSQL server unavailable",  # no initdb/pg_ctl on this machine
    r"psycopg 3 is not installed",  # the optional driver (pip install 'rfqcore[postgres]')
))


def enabled() -> bool:
    return os.environ.get(ENV_VAR) == "1"


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return str(wasxfail)
    lr = report.longrepr
    text = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
    return text.removeprefix("Skipped: ").strip()


def allowed(reason: str) -> bool:
    return any(p.match(reason) for p in ALLOWED_SKIPS)


def strict_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a disallowed skip, xfail or xpass in ``report`` into a failure with a one-line reason."""
    xfail = hasattr(report, "wasxfail")
    if not (report.skipped or (xfail and report.passed)):
        return
    reason = _reason(report)
    if allowed(reason):
        return
    what = "passed although marked xfail" if xfail and report.passed else ("xfailed" if xfail else "skipped")
    if xfail:
        del report.wasxfail  # type: ignore[union-attr]  # else pytest still reports it as x-something
    report.outcome = "failed"
    report.longrepr = (f"{what} under {ENV_VAR}=1: {reason or '(no reason given)'} -- fix the test or the "
                       f"environment; only a missing environment part may skip (tests/strict_outcomes.py)")
