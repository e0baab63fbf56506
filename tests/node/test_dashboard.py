"""The web dashboard in headless Chromium: served at ``/``, live over the WebSocket API.

A node with a perpetual and a chain of options trades through the client while the page is
open; the page must show the blocks, the book, the trades, the accounts with their margin,
the smile and the block charts, log no console errors, and make a screenshot
(``$PARACLEAR_ARTIFACTS/dashboard.png``; CI keeps it). Needs Debian's ``chromium`` and the
``playwright`` package (not its downloaded browsers): skipped without them, except under CI.
"""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paraclear.api.app import NodeApp
from paraclear.chain.core import NodeConfig
from paraclear.clearing.instruments import Option, Perpetual, Right, expiry_time
from paraclear.clearing.transactions import Deposit, ListInstrument, OracleUpdate, OrderType
from paraclear.client.connection import Client
from paraclear.client.envelope import Keypair
from paraclear.numbers import PRICE_SCALE, parse_amount, parse_price

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STRIKES = (50_000, 55_000, 60_000, 65_000, 70_000)
TIMEOUT_MS = 20_000


def _browser_or_skip() -> tuple[Any, str]:
    """Playwright's sync API and Chromium's path if both are here; skip (fail under CI)
    otherwise."""
    missing = []
    try:
        from playwright import sync_api
    except ImportError:
        missing.append("the playwright package")
        sync_api = None
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if chromium is None:
        missing.append("chromium")
    if missing:
        reason = f"the dashboard test needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert chromium is not None
    return sync_api, chromium


def _expiry() -> int:
    """An expiry about two months after now (block times follow the wall clock)."""
    day = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=60)
    return expiry_time(day.day, day.month, day.year)


class Market:
    """A served node with BTC-PERP and a call/put chain listed, and two funded traders."""

    def __init__(self, path: Path) -> None:
        self.app = NodeApp(NodeConfig(path, block_interval=0.05))
        self.port = self.app.start()
        self.maker, self.taker = Keypair.from_seed_int(1), Keypair.from_seed_int(2)
        operator = self.app.node.config.operator
        expiry = _expiry()
        self.options = [
            Option("BTC", expiry, strike * PRICE_SCALE, right)
            for strike in STRIKES
            for right in (Right.CALL, Right.PUT)
        ]
        listings = [Perpetual("BTC"), *self.options]
        with Client.connect(self.app.url) as admin:
            for nonce, instrument in enumerate(listings):
                tx = ListInstrument(sender=operator.account, nonce=nonce, instrument=instrument)
                assert admin.send_transaction(operator, tx)["ok"]
            self.oracle_nonce = len(listings)
            self.publish_index(admin, "60000")
        self.clients: dict[str, Client] = {}
        self.connect()
        for keys in (self.maker, self.taker):
            deposit = Deposit(sender=keys.account, nonce=0, amount=parse_amount("1000000"))
            assert self.clients[keys.account].send_transaction(keys, deposit)["ok"]

    def connect(self) -> None:
        """(Re)connect the traders' clients and authenticate them."""
        for client in self.clients.values():
            client.close()
        for keys in (self.maker, self.taker):
            self.clients[keys.account] = client = Client.connect(self.app.url)
            client.auth(keys)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def publish_index(self, client: Client, price: str) -> None:
        operator = self.app.node.config.operator
        tx = OracleUpdate(
            sender=operator.account,
            nonce=self.oracle_nonce,
            underlying="BTC",
            index_price=parse_price(price),
            atm_vol_ppm=600_000,
            skew_ppm=-150_000,
        )
        self.oracle_nonce += 1
        assert client.send_transaction(operator, tx)["ok"]

    def trade(self, instrument: str, size: str, price: str) -> None:
        """The maker rests a sell of twice ``size``; the taker takes ``size`` of it."""
        self.clients[self.maker.account].sell(self.maker, instrument, str(2 * float(size)), price)
        taken = self.clients[self.taker.account].buy(
            self.taker, instrument, size, price, kind=OrderType.IOC
        )
        assert taken["trades"], taken

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.app.stop()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    market = Market(tmp_path / "node")
    yield market
    market.close()


def _drop_sessions(app: NodeApp) -> None:
    """On the server's loop: close every WebSocket connection, as a restart would."""
    for session in list(app.server._sessions):
        session.close("dropped by the test")


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PARACLEAR_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _count(page: Any, selector: str) -> int:
    count: int = page.locator(selector).count()
    return count


def _points(page: Any, canvas: str) -> int:
    return int(page.get_attribute(f"#{canvas}", "data-points") or 0)


def test_dashboard_shows_live_market_accounts_smile_and_blocks(
    market: Market, tmp_path: Path
) -> None:
    sync_api, chromium = _browser_or_skip()
    market.trade("BTC-PERP", "1", "60000")
    market.trade(market.options[4].name, "2", "4000")  # the 60000 call
    market.clients[market.taker.account].buy(market.taker, "BTC-PERP", "0.7", "59900")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(market.url + "#BTC-PERP")
            page.wait_for_selector("#connection[data-state=open]", timeout=TIMEOUT_MS)
            page.wait_for_function(
                "document.getElementById('height').textContent !== '–'", timeout=TIMEOUT_MS
            )
            height = int(page.text_content("#height") or 0)
            page.wait_for_selector("#book tbody tr.ask", timeout=TIMEOUT_MS)
            # Live: a new trade and a new index arrive while the page is open.
            market.trade("BTC-PERP", "0.5", "60010")
            market.publish_index(market.clients[market.maker.account], "60500")
            page.wait_for_function(
                f"Number(document.getElementById('height').textContent) > {height}",
                timeout=TIMEOUT_MS,
            )
            page.wait_for_function(
                "document.querySelectorAll('#trades tbody tr.trade').length >= 2",
                timeout=TIMEOUT_MS,
            )
            page.wait_for_selector("#accounts tbody tr.account", timeout=TIMEOUT_MS)
            page.wait_for_function(
                "Number(document.getElementById('smile-chart').dataset.points) >= 5",
                timeout=TIMEOUT_MS,
            )
            page.wait_for_function(
                "Number(document.getElementById('throughput-chart').dataset.points) > 2",
                timeout=TIMEOUT_MS,
            )
            page.wait_for_function(
                "document.getElementById('index-price').textContent === '60,500'",
                timeout=TIMEOUT_MS,
            )
            assert _count(page, "#book tbody tr.ask") >= 1
            assert _count(page, "#book tbody tr.bid") >= 1
            assert _count(page, "#trades tbody tr.trade") >= 2
            rows = page.locator("#accounts tbody tr.account")
            assert rows.count() >= 2
            margin = rows.first.locator("td").nth(3).text_content() or ""
            assert float(margin.replace(",", "")) > 0
            assert _count(page, "#marks tbody tr.mark") == 1 + len(market.options)
            assert _points(page, "smile-chart") == len(market.options)
            for chart in ("dag-chart", "speedup-chart", "time-chart", "index-chart"):
                assert _points(page, chart) > 0, chart
            assert _count(page, "#hot-keys tbody tr.hot") >= 1
            assert page.get_attribute("#errors", "hidden") is not None
            shot = _artifacts(tmp_path) / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            # The server drops the connection: the page says so, reconnects and goes on.
            market.app.thread.call_soon(_drop_sessions, market.app)
            page.wait_for_selector("#connection[data-state=closed]", timeout=TIMEOUT_MS)
            assert "connection closed" in (page.text_content("#errors") or "")
            page.wait_for_selector("#connection[data-state=open]", timeout=TIMEOUT_MS)
            height = int(page.text_content("#height") or 0)
            market.connect()
            market.trade("BTC-PERP", "0.25", "60020")
            page.wait_for_function(
                f"Number(document.getElementById('height').textContent) > {height}",
                timeout=TIMEOUT_MS,
            )
        finally:
            browser.close()
    assert errors == []
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000
