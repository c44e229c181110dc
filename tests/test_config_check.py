"""``rfqcore config check`` / ``config schema``: every kind of configuration file checked, one exact
line per file; the committed JSON Schema is the models' and accepts the shipped files."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from rfqcore.cli import main
from rfqcore.configcheck import check_files, config_schema, schema_text
from rfqcore.instruments import VENUES as VENUE_NAMES, Registry

DEFAULTS = Path(str(resources.files("rfqcore").joinpath("defaults")))
ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "docs" / "config.schema.json"

VENUES = """
[[venue]]
id = 1
style = "binance"
instrument = "binance-spot:BTCUSDT"
rest_url = "http://127.0.0.1:8701"
ws_url = "ws://127.0.0.1:8701"
api_key = "desk-binance-key"
secret_env = "T_CHECK_SECRET1"

[[venue]]
id = 2
style = "okx"
instrument = "okx:BTC-USDT"
rest_url = "http://127.0.0.1:8702"
public_url = "ws://127.0.0.1:8702/ws/v5/public"
private_url = "ws://127.0.0.1:8702/ws/v5/private"
api_key = "desk-okx-key"
secret_env = "T_CHECK_SECRET2"
passphrase_env = "T_CHECK_PASS2"
"""
_REG = Registry.load()
#: the shipped registry's summary (other work adds instruments to it)
SHIPPED = f"{len(_REG)} instruments, {len(_REG.composites)} composites"
ENV = {"T_CHECK_SECRET1": "s1", "T_CHECK_SECRET2": "s2", "T_CHECK_PASS2": "p2"}


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    rc = main(["config", "check", *args])
    out, err = capsys.readouterr()
    assert err == ""
    return rc, out.splitlines()


def test_shipped_defaults_are_ok(capsys: pytest.CaptureFixture[str]) -> None:
    # each RFQ settings file is checked against the registry given before it
    files = [str(DEFAULTS / n) for n in ("instruments.toml", "rfq.toml", "hedge-instruments.toml", "hedge-rfq.toml")]
    rc, lines = check(capsys, *files)
    assert rc == 0
    assert lines == [
        f"OK    {files[0]}: instrument registry, {SHIPPED}",
        f"OK    {files[1]}: RFQ settings on {files[0]}, 2 tiers, 2 clients, 2 operators, 2 risk limits, "
        "2 pricing entries, 0 hedging policies",
        f"OK    {files[2]}: instrument registry, 2 instruments, 1 composite",
        f"OK    {files[3]}: RFQ settings on {files[2]}, 2 tiers, 2 clients, 2 operators, 1 risk limit, "
        "1 pricing entry, 1 hedging policy",
    ]


def test_good_venue_file_against_registry_and_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    venues = tmp_path / "venues.toml"
    venues.write_text(VENUES)
    reg, rfq = str(DEFAULTS / "hedge-instruments.toml"), str(DEFAULTS / "hedge-rfq.toml")
    rc, lines = check(capsys, reg, rfq, str(venues))
    assert rc == 0 and lines[2] == f"OK    {venues}: venue connections on {reg} and {rfq}, 2 venues"
    # the same with the registry and settings as options, and the kind given
    rc, lines = check(capsys, "--config", reg, "--rfq-config", rfq, "--kind", "venues", str(venues))
    assert rc == 0 and lines == [f"OK    {venues}: venue connections on {reg} and {rfq}, 2 venues"]
    # without RFQ settings: checked against the registry only, and said so
    rc, lines = check(capsys, "--config", reg, str(venues))
    assert rc == 0 and lines == [f"OK    {venues}: venue connections on {reg} (hedge venues not compared: give the "
                                 "RFQ settings before it, or --rfq-config), 2 venues"]


# (kind of file, the shipped file it starts from or VENUES, replace old, by new, the line after "ERROR {path}: ")
BAD = [
    ("instruments", "instruments.toml", 'tick = "0.01"', "tick = 0.01",
     'instrument #1 (binance-spot:BTCUSDT): tick must be str, got float 0.01 (write it quoted, e.g. "0.01": '
     "floats are not exact)"),
    ("instruments", "instruments.toml", 'lot = "0.000001"', 'lot = "1e-6"',
     "instrument #1 (binance-spot:BTCUSDT) lot: '1e-6' is not a plain non-negative decimal string (digits and an "
     'optional fraction, quoted, e.g. "0.01")'),
    ("instruments", "instruments.toml", 'kind = "spot"', 'kind = "option"',
     "instrument #1 (binance-spot:BTCUSDT): kind 'option' is not one of 'spot', 'linear' or 'inverse'"),
    ("instruments", "instruments.toml", 'symbol = "BTCUSDT"', 'symbl = "BTCUSDT"',
     "instrument #1: unknown keys ['symbl'] (allowed: symbol, venue, kind, base, quote, tick, lot, max_qty, "
     "contract_size, book_window) (and 1 more problem)"),
    ("instruments", "instruments.toml", "stale_after_ms = 5000", "stale_after_ms = 0",
     "composite #1 (BTC): stale_after_ms must be > 0, got 0"),
    ("instruments", "instruments.toml", 'base_bps = "1.0"', 'base_bps = "1.005"',
     "composite #1 (BTC) base_bps: '1.005' has more than 2 decimals"),
    ("rfq", "rfq.toml", 'tier = "gold"', 'tier = "platinum"',
     "client 'acme-capital': unknown tier 'platinum' (known: ['gold', 'silver']) (checked against the instrument "
     "registry defaults/instruments.toml)"),
    ("rfq", "rfq.toml", "[desk]", "[desks]",
     "unknown sections ['desks'] (allowed: desk, gateway, tier, client, operator, risk, pricing, hedging, "
     "portal_user, console_user, fix) "
     "(checked against the instrument registry defaults/instruments.toml)"),
    ("rfq", "rfq.toml", "ttl_ms = 2000", "ttl_ms = -1",
     "tier #1: ttl_ms must be >= 0, got -1 (checked against the instrument registry defaults/instruments.toml)"),
    ("rfq", "rfq.toml", "allow_partial = false", "allow_partial = 0",
     "tier #1: allow_partial must be bool, got int 0 (checked against the instrument registry "
     "defaults/instruments.toml)"),
    ("rfq", "hedge-rfq.toml", 'mode = "full"', 'mode = "sometimes"',
     "hedging BTC: mode 'sometimes' is not one of 'off', 'full', 'partial' or 'threshold' (checked against the "
     "instrument registry defaults/instruments.toml)"),
    ("venues", "VENUES", 'style = "okx"', 'style = "ftx"',
     "venue #2: style 'ftx' is not one of 'binance', 'okx' (checked against the instrument registry "
     "defaults/instruments.toml)"),
    ("venues", "VENUES", "ws_url =", "wss_url =",
     "venue #1: unknown keys ['wss_url'] (allowed: id, instrument, symbol, name, rest_url, api_key, secret_env, "
     "market_data, style, ws_url) (and 1 more problem) (checked against the instrument registry "
     "defaults/instruments.toml)"),
    ("venues", "VENUES", 'passphrase_env = "T_CHECK_PASS2"\n', "",
     "venue #2: missing key 'passphrase_env' (checked against the instrument registry defaults/instruments.toml)"),
    ("venues", "VENUES", "id = 2", "id = 70000",
     "venue #2: id must be a unique integer 1..65535, got 70000 (checked against the instrument registry "
     "defaults/instruments.toml)"),
    ("venues", "VENUES", 'secret_env = "T_CHECK_SECRET1"', 'secret_env = "T_CHECK_UNSET"',
     "venue #1: environment variable T_CHECK_UNSET (secret_env) is not set: export it with the venue's API secret "
     "(checked against the instrument registry defaults/instruments.toml)"),
]


@pytest.mark.parametrize(("kind", "start", "old", "new", "message"), BAD, ids=[f"{b[0]}-{b[3]!r}" for b in BAD])
def test_each_kind_of_bad_file_is_one_exact_line(kind: str, start: str, old: str, new: str, message: str,
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    text = VENUES if start == "VENUES" else (DEFAULTS / start).read_text()
    assert old in text
    bad = tmp_path / f"bad-{kind}.toml"
    bad.write_text(text.replace(old, new, 1))
    rc, lines = check(capsys, str(bad))
    assert rc == 1
    assert lines == [f"ERROR {bad}: {message}"]
    assert check_files([bad])[0].kind == kind


def test_files_that_are_no_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other, broken, good = tmp_path / "other.toml", tmp_path / "broken.toml", DEFAULTS / "instruments.toml"
    other.write_text('[tool]\nname = "x"\n')
    broken.write_text("[[instrument]\n")
    missing = tmp_path / "missing.toml"
    rc, lines = check(capsys, str(other), str(broken), str(missing), str(good))
    assert rc == 1
    assert lines == [
        f"ERROR {other}: cannot tell which configuration this is (sections ['tool']): pass --kind "
        "instruments|rfq|venues",
        f"ERROR {broken}: invalid TOML: Expected ']]' at the end of an array declaration (at line 1, column 13)",
        f"ERROR cannot read {missing}: No such file or directory",
        f"OK    {good}: instrument registry, {SHIPPED}",
    ]
    # --kind says what a file is: an empty file is valid RFQ settings (every RFQ refused), not a registry
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert check(capsys, "--kind", "rfq", str(empty))[1] == [
        f"OK    {empty}: RFQ settings on defaults/instruments.toml, 0 tiers, 0 clients, 0 operators, 0 risk limits, "
        "0 pricing entries, 0 hedging policies"]
    assert check(capsys, "--kind", "instruments", str(empty)) == (
        1, [f"ERROR {empty}: at least one [[instrument]] table is required"])


def test_secret_errors_say_where_the_secret_came_from(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rfq = tmp_path / "rfq.toml"
    rfq.write_text((DEFAULTS / "rfq.toml").read_text().replace(
        'secret = "61636d652d64656d6f2d7365637265742d6e6f742d666f722d70726f64"', 'secret = "0011"'))
    fix = "(32 or more hex digits, e.g. from `openssl rand -hex 32`, in the file or in $RFQCORE_SECRET_ACME_CAPITAL)"
    suffix = " (checked against the instrument registry defaults/instruments.toml)"
    assert check(capsys, str(rfq)) == (
        1, [f"ERROR {rfq}: client 'acme-capital': secret must be at least 16 bytes {fix}{suffix}"])
    monkeypatch.setenv("RFQCORE_SECRET_ACME_CAPITAL", "not-hex")   # the environment overrides the file
    assert check(capsys, str(rfq)) == (
        1, [f"ERROR {rfq}: client 'acme-capital': $RFQCORE_SECRET_ACME_CAPITAL is not hex {fix}{suffix}"])
    monkeypatch.setenv("RFQCORE_SECRET_ACME_CAPITAL", "ab" * 16)
    assert check(capsys, str(rfq))[0] == 0


def test_settings_after_a_bad_registry_are_not_checked_against_another(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "instruments.toml"
    reg.write_text((DEFAULTS / "hedge-instruments.toml").read_text().replace('venue = "okx"', 'venue = "ftx"'))
    rfq = str(DEFAULTS / "hedge-rfq.toml")
    rc, lines = check(capsys, str(reg), rfq)
    assert rc == 1
    assert lines == [
        f"ERROR {reg}: instrument #2 (ftx:BTC-USDT): venue 'ftx' is not one of {sorted(VENUE_NAMES)}",
        f"ERROR {rfq}: not checked: the instrument registry before it, {reg}, has errors",
    ]


def test_committed_schema_is_the_models_schema() -> None:
    assert SCHEMA_FILE.exists(), "docs/config.schema.json is missing: `rfqcore config schema -o docs/config.schema.json`"
    assert json.loads(SCHEMA_FILE.read_text("utf-8")) == config_schema(), (
        "docs/config.schema.json is out of date with the configuration models: regenerate it with "
        "`rfqcore config schema -o docs/config.schema.json`")
    assert SCHEMA_FILE.read_text("utf-8") == schema_text()


@pytest.mark.parametrize("name", ["instruments.toml", "rfq.toml", "hedge-instruments.toml", "hedge-rfq.toml"])
def test_schema_accepts_the_shipped_files_and_refuses_bad_ones(name: str) -> None:
    doc = tomllib.loads((DEFAULTS / name).read_text())
    jsonschema.validate(doc, config_schema())   # the combined schema an editor would use
    kind = "instruments" if "instrument" in doc else "rfq"
    jsonschema.validate(doc, config_schema(kind))
    section = "instrument" if kind == "instruments" else "tier"
    bad = {**doc, section: [{**doc[section][0], "colour": "red"}]}
    with pytest.raises(jsonschema.ValidationError, match="colour"):
        jsonschema.validate(bad, config_schema(kind))


def test_schema_of_venue_files_and_money_as_strings() -> None:
    schema = config_schema("venues")
    jsonschema.validate(tomllib.loads(VENUES), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"venue": [{"id": 1, "style": "ftx"}]}, schema)
    reg = config_schema("instruments")
    inst = tomllib.loads((DEFAULTS / "instruments.toml").read_text())
    inst["instrument"][0]["tick"] = 0.01   # a float where a decimal string belongs
    with pytest.raises(jsonschema.ValidationError, match="0.01 is not of type 'string'"):
        jsonschema.validate(inst, reg)


def test_config_schema_command(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    p = subprocess.run([sys.executable, "-m", "rfqcore.cli", "config", "schema", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout == f"wrote {out}\n" and p.stderr == ""
    assert json.loads(out.read_text()) == config_schema()
    p = subprocess.run([sys.executable, "-m", "rfqcore.cli", "config", "schema", "--kind", "rfq"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and json.loads(p.stdout)["title"] == "RfqFile"
    p = subprocess.run([sys.executable, "-m", "rfqcore.cli", "config", "check", str(tmp_path / "nope.toml")],
                       capture_output=True, text=True, timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (
        1, f"ERROR cannot read {tmp_path / 'nope.toml'}: No such file or directory\n", "")
