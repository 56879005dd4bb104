"""The fake SEC server serving the simulated universe, and its plain-HTTP behaviour."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING

import pytest

from ibbot.fundamentals.sec import SecSource
from ibbot.fundamentals.sec.fake import TICKERS_PATH, FakeSecServer
from ibbot.sim.universe import DEFAULT_UNIVERSE
from tests.integration.sec_helpers import edgar_client

if TYPE_CHECKING:
    from pathlib import Path


async def test_simulated_universe_agrees_with_the_sim(tmp_path: Path) -> None:
    """Served from the sim's universe, the SEC source reports the sim's TTM figures."""
    async with FakeSecServer() as sec, edgar_client(sec, tmp_path) as client:
        sec.add_universe(DEFAULT_UNIVERSE.subset(["AAPL", "AMZN", "JPM"]), through=date(2026, 1, 5))
        source = SecSource(client)
        for symbol in ("AAPL", "AMZN", "JPM"):
            security = DEFAULT_UNIVERSE[symbol]
            latest = (await source.fetch(symbol))[-1]
            assert latest.cik == security.cik
            assert latest.revenue == pytest.approx(security.revenue_ttm)
            assert latest.values["net_income_ttm"] == pytest.approx(security.net_income_ttm)
            assert latest.eps == pytest.approx(security.eps_ttm, rel=1e-3)
            assert latest.shares_outstanding == security.shares_outstanding
            assert latest.values["book_value_per_share"] == pytest.approx(
                security.book_value_per_share
            )
            if security.dividend_per_share:
                assert latest.dividend_per_share == pytest.approx(
                    security.dividend_per_share, rel=1e-3
                )
            else:
                assert latest.dividend_per_share is None


async def raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_plain_http_edge_cases() -> None:
    """POST is refused with 405; a request without a contact User-Agent gets 403; garbage closes."""
    async with FakeSecServer() as sec:
        sec.add_company("ACME", 42, "ACME CORP", None)
        post = await raw_exchange(
            sec.url,
            b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        )
        undeclared = await raw_exchange(
            sec.url,
            f"GET {TICKERS_PATH} HTTP/1.1\r\nUser-Agent: bot\r\nConnection: close\r\n\r\n".encode(),
        )
        garbage = await raw_exchange(sec.url, b"\xff\xfe nonsense\r\n\r\n")
    assert post.startswith(b"HTTP/1.1 405")
    assert undeclared.startswith(b"HTTP/1.1 403")
    assert garbage == b""
    assert sec.count("/x") == 1


def test_url_needs_a_started_server() -> None:
    """Asking for the URL before start is a clear error."""
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeSecServer().url
