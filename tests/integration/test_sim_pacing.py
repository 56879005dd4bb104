"""The simulated gateway enforces IB's pacing rules with IB's codes (the peer's own judgement)."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import RawClient, connected, running_gateway

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def test_identical_historical_request_within_15_seconds_gets_162() -> None:
    """The same historical request twice within 15 simulated seconds: 162 with the pacing text."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "TRADES", True)
        assert info.value.code == 162
        assert "Historical data request pacing violation" in info.value.message
        await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "MIDPOINT", True)


async def test_six_requests_for_one_contract_in_two_seconds() -> None:
    """Five different requests for one contract pass; the sixth within 2 s is refused."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        for duration in ("600 S", "900 S", "1200 S", "1500 S", "1800 S"):
            await ib.reqHistoricalDataAsync(AAPL, "", duration, "1 min", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "2100 S", "1 min", "TRADES", True)
        assert info.value.code == 162


async def test_forced_violations_cover_fundamentals_and_realtime_bars() -> None:
    """Fault injection: the next K data requests violate (162 for data, 420 for real-time bars)."""
    async with running_gateway() as gw, connected(gw) as ib:
        gw.force_pacing_violations(3)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "1 D", "1 hour", "TRADES", True)
        assert info.value.code == 162
        with pytest.raises(RequestError) as info:
            await ib.reqFundamentalDataAsync(AAPL, "ReportSnapshot")
        assert info.value.code == 162
        assert "pacing violation" in info.value.message
        errors: list[tuple[int, str]] = []
        ib.errorEvent += lambda _r, code, text, _c: errors.append((code, text))
        bars = ib.reqRealTimeBars(AAPL, 5, "TRADES", True)
        await ib.reqCurrentTimeAsync()
        assert errors == [(420, "Invalid Real-time Query:Historical data request pacing violation")]
        ib.cancelRealTimeBars(bars)
        assert gw.truth()["faults"]["forced_pacing_violations"] == 0
        assert await ib.reqFundamentalDataAsync(AAPL, "ReportSnapshot")


async def test_message_rate_over_the_limit_gets_100_then_disconnects() -> None:
    """Beyond the per-second message limit: error 100; the third strike closes the session."""
    async with running_gateway(max_messages_per_second=10) as gw:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=4)
        for _ in range(13):
            raw.send(["49", "1"])
        error = await raw.frame_with_id(4)
        while error[3] != "100":
            error = await raw.frame_with_id(4)
        assert error[4].startswith("Max rate of messages per second has been exceeded:max=10")
        assert await raw.closed_by_peer()
        await raw.close()
        await gw.wait_for_clients(lambda ids: 4 not in ids)


async def test_ib_async_own_throttle_stays_under_the_limit() -> None:
    """ib_async's 45 msg/s throttle keeps a burst of 60 requests clear of error 100."""
    async with running_gateway() as gw, connected(gw) as ib:
        errors: list[int] = []
        ib.errorEvent += lambda _r, code, *_: errors.append(code)
        answers = await asyncio.gather(*(ib.reqContractDetailsAsync(AAPL) for _ in range(60)))
        assert all(len(details) == 1 for details in answers)
        assert 100 not in errors
