"""The web RFQ portal and the operator console in a real browser (docs/web.md): Debian's headless Chromium, driven by
Selenium through Debian's chromedriver (the same build as the browser), against a real desk on
loopback (rfqcore.serve.Server, what ``rfqcore serve --http`` runs) with market data fed so that
quotes exist. Every wait is an explicit WebDriverWait on what the page shows.

Scenarios: a client logs in, asks for a two-way quote, sees the countdown run, accepts and sees
the fill in its blotter; a quote left to expire cannot be accepted and the page says why; the
core's refusals show with their reasons; a large RFQ waits in the console's approval queue and
its quote reaches the client's page when an operator approves it there; an operator's kill
switch in the console refuses the client's next RFQ with that reason (the operator in a second
browser).

Screenshots of every scenario (and of any failure, with the page's HTML and console log) go to
``build/test-artifacts/browser/``. ``RFQCORE_UPDATE_SCREENSHOTS=1`` also writes the portal and
console screenshots that docs/web.md shows (docs/img/portal.png, docs/img/console.png); normal
runs leave the tree alone.

``make test`` installs the browser (``make browser``); without it these tests fail, saying what
to install, rather than skip.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from desk_market import feed_market, web_desk

from rfqcore.demo import DEMO_CONSOLE_USERS, DEMO_PORTAL_USERS

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never downloads (it is not even run: the driver path is given)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
DOCS_IMG = ROOT / "docs" / "img"
UPDATE_SCREENSHOTS = os.environ.get("RFQCORE_UPDATE_SCREENSHOTS") == "1"
MISSING = ("headless Chromium missing: install the Debian packages chromium chromium-driver "
           "(as root: apt-get install chromium chromium-driver; `make test` does it when it can)")
WAIT_S = 10  # the longest any one thing may take to show (a loaded 2-core machine)


def _browser_paths() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(MISSING, pytrace=False)
    return chromium, driver


def _settings(registry: Any) -> Any:
    """The packaged RFQ settings, with acme-capital's (gold) quotes living 8 s instead of 2 s so
    that a loaded machine still accepts them in time; the expiry scenario uses beta-fund's 1 s."""
    from importlib import resources

    from rfqcore.rfqconfig import RfqSettings

    toml = resources.files("rfqcore").joinpath("defaults/rfq.toml").read_text("utf-8")
    gold = 'name = "gold"\nmarkup_bps = "0.25"\nfee_bps = "0.50"\nttl_ms = 2000\n'
    assert gold in toml, "the packaged gold tier changed: update this test's settings"
    return RfqSettings.from_toml(toml.replace(gold, gold.replace("ttl_ms = 2000", "ttl_ms = 8000")), registry,
                                 "test-browser-rfq.toml")


@pytest.fixture(scope="module")
def desk() -> Iterator[Any]:
    from rfqcore.instruments import Registry

    registry = Registry.load()
    with web_desk(registry=registry, settings=_settings(registry)) as srv:
        yield srv


def _chrome() -> webdriver.Chrome:
    chromium, driver = _browser_paths()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,820", "--no-first-run", "--disable-extensions", "--lang=en-US"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=opts)


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    """The client trader's browser."""
    d = _chrome()
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def chrome_desk() -> Iterator[webdriver.Chrome]:
    """The desk operator's browser (a second one: the console and the portal side by side)."""
    d = _chrome()
    try:
        yield d
    finally:
        d.quit()


class Page:
    """One browser session on the portal (or the console at ``path="/console/"``), with
    screenshots named after the test."""

    def __init__(self, driver: webdriver.Chrome, base: str, name: str, path: str = "/") -> None:
        self.d, self.base, self.name = driver, base, name
        self.shots: list[Path] = []
        self.d.get(base + path)
        self.d.delete_all_cookies()  # each scenario starts logged out
        self.d.get(base + path)

    def el(self, css: str) -> WebElement:
        return self.d.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.el(css).text

    def click(self, css: str) -> None:
        """Click ``css``, found afresh at each try: the pages redraw their tables on pushed
        events, so an element found a moment before may be gone stale (then it is tried again)."""
        def go() -> bool:
            self.el(css).click()
            return True
        self.until(f"a click on {css}", go)

    def until(self, what: str, cond: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Wait until ``cond()`` is truthy (an element gone stale while the page redraws counts
        as not yet); fails naming ``what`` and the page's message line."""
        def check(_: Any) -> Any:
            try:
                return cond()
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(check)
        except Exception as e:
            raise AssertionError(f"waited {timeout} s for {what}; the page says {self.message()!r}") from e

    def message(self) -> str:
        try:
            return self.text("#message")
        except WebDriverException:
            return "(no page)"

    def message_ok(self) -> bool:
        """The message line shows as a success (green), not as a refusal or an error (red)."""
        return "ok" in (self.d.find_element(By.ID, "message").get_attribute("class") or "").split()

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{step}.png"
        self.d.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def login(self, user: str) -> None:
        console = user in DEMO_CONSOLE_USERS
        self.until("the login form", lambda: self.el("#login-view").is_displayed())
        self.el("#login-form input[name=user]").send_keys(user)
        self.el("#login-form input[name=password]").send_keys((DEMO_CONSOLE_USERS if console else DEMO_PORTAL_USERS)[user])
        self.click("#login-form button[type=submit]")
        if console:
            self.until("the console", lambda: self.el("#console-view").is_displayed())
            return
        self.until("the trading view", lambda: self.el("#trade-view").is_displayed())
        self.until("the instruments", lambda: len(Select(self.el("#instrument")).options) > 0)

    def request(self, desk: Any, side: str, size: str, instrument: str = "BTC") -> None:
        """Fill in and send the RFQ form (on a fresh book: the core will not quote off a stale one)."""
        Select(self.el("#instrument")).select_by_value(instrument)
        Select(self.el("#rfq-form select[name=side]")).select_by_value(side)
        size_box = self.el("#rfq-form input[name=size]")
        size_box.clear()
        size_box.send_keys(size)
        feed_market(desk.engine)
        self.click("#rfq-form button[type=submit]")

    def quote_shown(self, previous: str = "") -> str:
        """The id of the quote box's quote, once a quote other than ``previous`` shows."""
        def shown() -> str | None:
            qid = self.text("#quote-id") if self.el("#quote").is_displayed() else ""
            return qid if qid and qid != previous else None
        return str(self.until("a quote", shown))

    def side_button(self, side: str) -> WebElement:
        buttons = [b for b in self.el("#quote-sides").find_elements(By.TAG_NAME, "button") if b.text.startswith(side + " ")]
        assert len(buttons) == 1, [b.text for b in self.el("#quote-sides").find_elements(By.TAG_NAME, "button")]
        return buttons[0]

    def blotter(self) -> list[dict[str, str]]:
        heads = [th.text for th in self.d.find_elements(By.CSS_SELECTOR, "#blotter thead th")]
        return [dict(zip(heads, (td.text for td in tr.find_elements(By.TAG_NAME, "td")), strict=True))
                for tr in self.d.find_elements(By.CSS_SELECTOR, "#blotter tbody tr")]

    def blotter_row(self, what: str, pred: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        return self.until(what, lambda: next((r for r in self.blotter() if pred(r)), None))  # type: ignore[no-any-return]

    def console_errors(self) -> list[str]:
        """Script errors the page logged (failed loads are left out: the 401 of the first
        session probe is the page asking whether it is logged in, and the scenarios check every
        answer they need)."""
        return [e["message"] for e in self.d.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]


def _opened(driver: webdriver.Chrome, desk: Any, request: pytest.FixtureRequest, name: str,
            path: str) -> Iterator[Page]:
    """A page in ``driver``; on failure its screenshot, HTML and console log are kept."""
    driver.get_log("browser")  # drop what an earlier scenario left
    for old in ARTIFACTS.glob(f"{name}-*"):
        old.unlink()  # an earlier run's pictures of this scenario
    p = Page(driver, desk.web.url, name, path)
    yield p
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        p.shot("FAILED")
        (ARTIFACTS / f"{p.name}-FAILED.html").write_text(driver.page_source, "utf-8")
        (ARTIFACTS / f"{p.name}-FAILED-console.txt").write_text(
            "\n".join(f"{e['level']} {e['message']}" for e in driver.get_log("browser")), "utf-8")


@pytest.fixture
def page(chrome: webdriver.Chrome, desk: Any, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The portal in the client's browser."""
    yield from _opened(chrome, desk, request, request.node.name, "/")


@pytest.fixture
def console(chrome_desk: webdriver.Chrome, desk: Any, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The operator console in the desk's browser."""
    yield from _opened(chrome_desk, desk, request, request.node.name + "-console", "/console/")


def _seconds(countdown: str) -> float:
    m = re.fullmatch(r"(\d+\.\d) s( \(expired\))?", countdown)
    assert m, countdown
    return float(m.group(1))


# ---- scenarios ------------------------------------------------------------------------------------


def test_login_two_way_quote_countdown_accept_and_the_fill_in_the_blotter(page: Page, desk: Any) -> None:
    page.login("acme-trader")
    assert page.text("#who") == "acme-trader (acme-capital)"
    page.request(desk, "two-way", "1")
    qid = page.quote_shown()
    assert page.text("#quote-inst") == "BTC"
    buy, sell = page.side_button("buy").text, page.side_button("sell").text
    prices = {s: re.fullmatch(rf"{s} 1\.00000000 BTC @ (\d+\.\d+) USDT", t) for s, t in (("buy", buy), ("sell", sell))}
    assert prices["buy"] and prices["sell"], (buy, sell)
    assert float(prices["buy"].group(1)) > float(prices["sell"].group(1)) > 0

    first = _seconds(page.text("#countdown"))
    assert 0 < first <= 10, first
    page.until("the countdown to run", lambda: 0 < _seconds(page.text("#countdown")) < first)
    page.shot("quote")

    page.side_button("buy").click()
    page.until("the fill message", lambda: page.message().startswith("filled: "))
    assert page.message() == f"filled: buy 1.00000000 @ {prices['buy'].group(1)}"
    assert page.message_ok(), "a fill shows as a success, not in the error colour"
    fill = page.blotter_row("the fill in the blotter", lambda r: r["type"] == "fill" and r["quote"] == qid)
    assert (fill["side"], fill["qty"], fill["price"], fill["instrument"]) == ("buy", "1.00000000", prices["buy"].group(1), "BTC")
    quote = page.blotter_row("the quote in the blotter", lambda r: r["type"] == "quote" and r["quote"] == qid)
    assert (quote["ask"], quote["bid"]) == (prices["buy"].group(1), prices["sell"].group(1))
    shot = page.shot("filled")
    if UPDATE_SCREENSHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "portal.png")
    assert page.console_errors() == []


def test_a_quote_left_to_expire_cannot_be_accepted_and_the_page_says_why(page: Page, desk: Any) -> None:
    page.login("beta-trader")  # silver tier: 1 s quotes
    page.request(desk, "sell", "1")
    qid = page.quote_shown()
    assert 0 < _seconds(page.text("#countdown")) <= 1.0
    page.until("the quote to expire", lambda: "expired" in page.el("#quote").get_attribute("class"))
    assert page.text("#countdown") == "0.0 s (expired)"
    page.blotter_row("the expiry in the blotter", lambda r: r["type"] == "quote_expired" and r["quote"] == qid)
    page.side_button("sell").click()
    page.until("the refusal", lambda: page.message().startswith("rejected: "))
    assert page.message() == "rejected: TOO_LATE"  # the core's reason, as every gateway gets it
    assert not page.message_ok()
    page.blotter_row("the refusal in the blotter", lambda r: r["type"] == "accept_rejected" and r["quote"] == qid
                     and r["reason"] == "TOO_LATE")
    assert not any(r["type"] == "fill" and r["quote"] == qid for r in page.blotter())
    page.shot("too-late")


def test_the_cores_refusals_show_with_their_reasons(page: Page, desk: Any) -> None:
    page.login("beta-trader")
    page.request(desk, "buy", "100000")
    page.until("the size refusal", lambda: page.message().startswith("rejected: "))
    reason = page.message().removeprefix("rejected: ")
    assert reason == "ABOVE_MAX_SIZE", reason  # BTC's max_qty is 200
    page.blotter_row("the refusal in the blotter", lambda r: r["type"] == "rfq_rejected" and r["reason"] == reason)
    page.shot("too-big")

    page.request(desk, "buy", "lots")  # refused by the portal itself, before the core
    page.until("the bad size message", lambda: "size" in page.message() and "lots" in page.message())
    assert page.console_errors() == []


def test_an_operator_approves_a_large_rfq_in_the_console_and_the_client_gets_the_quote(
        page: Page, console: Page, desk: Any) -> None:
    console.login("desk-trader")
    page.login("acme-trader")
    page.request(desk, "buy", "51")  # the desk's approval_qty is 50
    page.until("the approval wait", lambda: page.message().startswith("waiting for the desk's approval until "))
    row = page.blotter_row("the pending row", lambda r: r["type"] == "pending_approval" and r["qty"] == "51.00000000")
    assert row["quote"] == ""
    page.shot("pending")

    waiting = console.until("the RFQ in the console's queue", lambda: console.d.find_elements(
        By.CSS_SELECTOR, "#approvals tbody tr[id^=approval-]"))
    assert len(waiting) == 1, [w.text for w in waiting]
    request_id = waiting[0].get_attribute("id").removeprefix("approval-")
    assert "acme-capital" in waiting[0].text and "51" in waiting[0].text, waiting[0].text
    console.until("the approval countdown", lambda: console.text(f"#remaining-{request_id}") != "")
    shot = console.shot("queue")
    if UPDATE_SCREENSHOTS:
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG / "console.png")
    console.click(f"#approve-{request_id}")
    console.until("the approval's answer", lambda: console.message().startswith(f"approve {request_id}: "))
    assert console.message() == f"approve {request_id}: applied as desk-operator"
    console.until("the queue to empty", lambda: console.el("#approvals-empty").is_displayed())

    qid = page.quote_shown()  # pushed to the client's page on its stream
    assert page.message() == ""
    buy = page.side_button("buy")
    assert re.fullmatch(r"buy 51\.00000000 BTC @ \d+\.\d+ USDT", buy.text), buy.text
    assert 0 < _seconds(page.text("#countdown"))
    page.shot("approved")
    buy.click()
    page.until("the fill", lambda: page.message().startswith("filled: buy 51.00000000 @ "))
    page.blotter_row("the fill in the blotter", lambda r: r["type"] == "fill" and r["quote"] == qid)
    assert page.console_errors() == [] and console.console_errors() == []
    for _ in range(2):  # flat again (in sizes below the approval threshold) for any test after this one
        prev = page.text("#quote-id")
        page.request(desk, "sell", "25.5")
        page.quote_shown(prev)
        page.side_button("sell").click()
        page.until("the fill", lambda: page.message().startswith("filled: sell 25.50000000 @ "))


def test_an_operator_kills_a_client_in_the_console_and_its_next_rfq_is_refused_with_that_reason(
        page: Page, console: Page, desk: Any) -> None:
    """Under a kill switch the core quotes only what reduces the desk's position; clients only
    buy on balance in these tests (the desk is flat or short), so a client's buy never does, and
    beta-fund never trades here."""
    console.login("desk-risk")
    page.login("beta-trader")
    console.until("the switches", lambda: console.el("#switch-client-beta-fund").is_displayed())
    console.click("#kill-client-beta-fund")
    try:
        console.until("the kill's answer", lambda: console.message() == "kill beta-fund: applied as risk-officer")
        console.until("the switch shown on", lambda: "KILLED" in console.text("#switch-client-beta-fund"))
        page.request(desk, "buy", "1")
        page.until("the kill switch refusal", lambda: page.message().startswith("rejected: "))
        assert page.message() == "rejected: KILL_SWITCH"
        page.blotter_row("the kill switch in the blotter",
                         lambda r: r["type"] == "rfq_rejected" and r["reason"] == "KILL_SWITCH")
        page.shot("refused")
        console.shot("killed")
        console.click("#release-client-beta-fund")
        console.until("the release's answer", lambda: console.message() == "release beta-fund: applied as risk-officer")
        console.until("the switch shown off", lambda: "KILLED" not in console.text("#switch-client-beta-fund"))
    finally:
        if desk.engine.client_risk_raw("beta-fund")["killed"]:
            desk.engine.operator.kill(False, client="beta-fund")  # the test failed half-way: leave the desk as found
    page.request(desk, "buy", "1")
    page.quote_shown()  # released: quoted again
    assert page.console_errors() == [] and console.console_errors() == []


def test_a_risk_officer_changes_a_tiers_markup_in_the_console_seeing_old_and_new_first(
        console: Page, desk: Any) -> None:
    """The tier's terms through the one path of setting changes: chosen in the form, reviewed
    (its current and new value shown, nothing sent yet), confirmed; the core holds the new
    value and the page's settings table shows it."""
    before = desk.engine.tier_view_raw("silver")
    console.login("desk-risk")
    console.until("the settings form", lambda: console.el("#change-form").is_displayed()
                  and "silver" in console.text("#settings"))
    Select(console.el("#change-what")).select_by_value("tier")
    console.until("the tiers as targets", lambda: "silver" in console.text("#change-target"))
    Select(console.el("#change-target")).select_by_value("silver")
    Select(console.el("#change-field")).select_by_value("markup_bps")
    console.el("#change-value").send_keys("1.75")
    console.click("#change-ask")
    console.until("the review", lambda: console.el("#change-confirm").is_displayed())
    assert console.text("#change-what-text") == "silver markup_bps"
    assert (console.text("#change-old"), console.text("#change-new")) == ("1.00", "1.75")
    assert desk.engine.tier_view_raw("silver") == before  # nothing sent before the confirm
    console.shot("review")
    try:
        console.click("#change-apply")
        console.until("the change's answer",
                      lambda: console.message() == "silver markup_bps: applied as risk-officer")
        assert desk.engine.tier_view_raw("silver")["markup_cbps"] == 175
        console.until("the new value in the settings table", lambda: "markup_bps 1.75" in console.text("#settings"))
        console.shot("applied")
    finally:
        desk.engine.operator.set_tier("silver", markup_bps=Decimal(before["markup_cbps"]) / 100)
    assert desk.engine.tier_view_raw("silver") == before
    assert console.console_errors() == []
