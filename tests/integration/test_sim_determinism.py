"""Same seed, same requests: byte-identical response frames from two separate gateways."""

from __future__ import annotations

from datetime import UTC, datetime

from ib_async import IB, LimitOrder, MarketOrder, Stock

from ibbot.clock import SimulatedClock
from ibbot.sim.gateway import SimulatedGateway
from tests.integration.sim_support import sim_config, until

START = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


async def _session(seed: int) -> list[bytes]:
    """Run one scripted client session against a fresh gateway on a frozen clock; return its frames."""
    clock = SimulatedClock(START)
    async with SimulatedGateway(sim_config(seed=seed), clock=clock, record=True) as gw:
        ib = IB()
        ib.RaiseRequestErrors = True
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1, timeout=5, raiseSyncErrors=True)
        aapl, jpm = Stock("AAPL", "SMART", "USD"), Stock("JPM", "SMART", "USD")
        await ib.qualifyContractsAsync(aapl, jpm)
        await ib.reqHistoricalDataAsync(
            aapl, "20260302 15:00:00 UTC", "2 D", "5 mins", "TRADES", True
        )
        await ib.reqHistoricalDataAsync(
            jpm, "20260227 21:00:00 UTC", "1 M", "1 day", "MIDPOINT", True, 2
        )
        await ib.reqTickersAsync(aapl, jpm)
        await ib.reqFundamentalDataAsync(aapl, "ReportSnapshot")
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 10, orderRef="det:1"))
        await until(
            lambda: trade.isDone() and bool(trade.fills[0].commissionReport.execId),
            trade.commissionReportEvent,
        )
        resting = ib.placeOrder(jpm, LimitOrder("BUY", 5, 100.0))
        await until(lambda: resting.orderStatus.status == "Submitted", resting.statusEvent)
        await ib.reqExecutionsAsync()
        await ib.reqCompletedOrdersAsync(False)
        await ib.reqAllOpenOrdersAsync()
        ib.disconnect()
        await gw.wait_for_clients(lambda ids: not ids)
        ((_, frames),) = gw.transcripts.items()
        return frames


async def test_same_seed_same_requests_same_bytes() -> None:
    """Two runs with one seed produce identical frames; another seed produces different prices."""
    first = await _session(seed=7)
    second = await _session(seed=7)
    assert len(first) > 90
    assert first == second
    other = await _session(seed=8)
    assert len(other) == len(first)
    assert other != first
