"""Logs a desk can ship: text or JSON lines (``rfqcore --log-format json`` /
``RFQCORE_LOG_FORMAT=json``), one logger per component, the choice inherited by child
processes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from rfqcore.logs import JsonFormatter


def record(msg: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("rfqcore.serve", level, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(r, k, v)
    return r


def test_a_json_line_carries_the_message_and_the_extra_fields() -> None:
    line = JsonFormatter().format(record("desk up on %s", "/dev/shm/x", aeron_dir="/dev/shm/x", rings=3))
    d = json.loads(line)
    assert "\n" not in line
    assert d["msg"] == "desk up on /dev/shm/x" and d["level"] == "INFO" and d["logger"] == "rfqcore.serve"
    assert d["aeron_dir"] == "/dev/shm/x" and d["rings"] == 3 and d["pid"] == os.getpid()
    assert d["ts"].endswith("Z") and len(d["ts"]) == len("2026-12-04T19:10:00.123456Z")
    assert set(d) == {"ts", "level", "logger", "msg", "pid", "aeron_dir", "rings"}


def test_an_exception_is_one_json_string_not_a_multi_line_traceback() -> None:
    try:
        raise RuntimeError("journal disk full")
    except RuntimeError:
        r = record("stopping failed", level=logging.WARNING)
        r.exc_info = sys.exc_info()
    line = JsonFormatter().format(r)
    assert "\n" not in line
    d = json.loads(line)
    assert d["exc"].startswith("Traceback") and "RuntimeError: journal disk full" in d["exc"]


CHILD = ("import logging; from rfqcore import logs; logs.configure(logging.INFO); "
         "logging.getLogger('rfqcore.gateway').warning('dropped %d bytes', 7, extra={'reason': 'TRUNCATED'})")


@pytest.mark.parametrize("fmt", ["json", "text", None])
def test_the_format_comes_from_the_environment_as_children_inherit_it(fmt: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RFQCORE_LOG_FORMAT"}
    if fmt:
        env["RFQCORE_LOG_FORMAT"] = fmt
    p = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    (line,) = p.stderr.splitlines()
    if fmt == "json":
        d = json.loads(line)
        assert (d["logger"], d["level"], d["msg"], d["reason"]) == ("rfqcore.gateway", "WARNING", "dropped 7 bytes",
                                                                     "TRUNCATED")
    else:
        assert line.endswith(" rfqcore.gateway WARNING dropped 7 bytes")


def rfqcore(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rfqcore.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_the_cli_option_and_a_bad_environment_value() -> None:
    p = rfqcore("instruments", "--log-format", "json", "-vv")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(ln) for ln in p.stderr.splitlines()]   # every line is JSON
    assert {"logger": "rfqcore.cli", "level": "DEBUG", "command": "instruments"}.items() <= lines[0].items()
    assert rfqcore("instruments", "-vv").stderr.splitlines()[0].endswith(" rfqcore.cli DEBUG rfqcore 0.1.0: instruments")
    env = {**os.environ, "RFQCORE_LOG_FORMAT": "xml"}
    p = rfqcore("instruments", env=env)
    assert p.returncode == 2
    assert p.stderr.strip() == ("rfqcore: log format 'xml': use one of text, json (--log-format or "
                                "$RFQCORE_LOG_FORMAT)")


def test_records_go_to_the_stderr_of_the_moment_not_a_closed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """configure() while sys.stderr is a stream that is later closed (a test runner's capture,
    as `rfqcore config check` run in-process under pytest's capsys): a later record — such as a
    warning the native gateway's log forwarder thread hands over — goes to the sys.stderr of
    then, with no '--- Logging error ---' about a closed file."""
    import io

    from rfqcore import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        logs.configure(logging.WARNING, "text")
        first.close()
        now = io.StringIO()
        monkeypatch.setattr(sys, "stderr", now)
        logging.getLogger("rfqcore.gateway").warning("dropped a message that cannot be answered: %s", "TRUNCATED")
        out = now.getvalue()
        assert "rfqcore.gateway WARNING dropped a message that cannot be answered: TRUNCATED" in out
        assert "Logging error" not in out
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
