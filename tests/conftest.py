"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest

from rfqcore.settlement.pgtest import TempPostgres, TempPostgresUnavailable


@pytest.fixture(scope="module")
def pg_server():
    pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install 'rfqcore[postgres]')")
    pg = TempPostgres()
    try:
        pg.start()
    except TempPostgresUnavailable as e:
        pytest.skip(f"PostgreSQL server unavailable: {e}")
    yield pg
    pg.cleanup()
