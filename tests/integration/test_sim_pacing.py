"""The simulated gateway enforces IB's pacing rules with IB's codes (the peer's own judgement).

IB's hard historical rules cover bars of 30 seconds or less; larger bars meet only the 50-open-
requests limit and a soft throttle, unless the strict switch restores the old rules.
"""

from __future__ import annotations

import asyncio

import pytest
from ib_async import Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import RawClient, connected, control, running_gateway

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
PACING_TEXT = "Historical data request pacing violation"


async def test_identical_historical_request_within_15_seconds_gets_162() -> None:
    """The same small-bar request twice within 15 simulated seconds: 162 with the pacing text."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "30 secs", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "30 secs", "TRADES", True)
        assert info.value.code == 162
        assert PACING_TEXT in info.value.message
        await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "30 secs", "MIDPOINT", True)


async def test_six_requests_for_one_contract_in_two_seconds() -> None:
    """Five different small-bar requests for one contract pass; the sixth within 2 s is refused."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        for duration in ("600 S", "900 S", "1200 S", "1500 S", "1800 S"):
            await ib.reqHistoricalDataAsync(AAPL, "", duration, "30 secs", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "2100 S", "30 secs", "TRADES", True)
        assert info.value.code == 162


async def test_bars_of_a_minute_and_more_are_not_paced_by_the_small_bar_rules() -> None:
    """An identical 1-minute-bar request and a burst of 62 different daily-bar requests for one
    contract: all answered (past the 15-s identical rule, 6 per 2 s and 60 per 10 minutes)."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        for _ in range(2):
            assert await ib.reqHistoricalDataAsync(AAPL, "", "1800 S", "1 min", "TRADES", True)
        answers = await asyncio.gather(
            *(
                ib.reqHistoricalDataAsync(AAPL, "", f"{days} D", "1 day", "TRADES", True)
                for days in range(5, 67)
            )
        )
        assert all(answers)


async def test_the_51st_open_historical_request_gets_322() -> None:
    """50 keepUpToDate requests stay open; the 51st gets IB's 322 "Only 50 simultaneous API
    historical data requests allowed"; once one is cancelled, a request is answered again."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        open_ones = await asyncio.gather(
            *(
                ib.reqHistoricalDataAsync(AAPL, "", "1 M", "1 day", "TRADES", True, 1, True)
                for _ in range(50)
            )
        )
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "1 M", "1 day", "TRADES", True)
        assert info.value.code == 322
        assert "Only 50 simultaneous API historical data requests allowed" in info.value.message
        ib.cancelHistoricalData(open_ones[0])
        await ib.reqCurrentTimeAsync()  # answered after the cancel was handled
        assert await ib.reqHistoricalDataAsync(AAPL, "", "1 M", "1 day", "TRADES", True)
        for bars in open_ones[1:]:
            ib.cancelHistoricalData(bars)


async def test_soft_throttle_slows_answers_under_load() -> None:
    """60 daily-bar requests at once are all answered, the 60th no sooner than 1 simulated second
    after it was sent (0.1 s for each request past 50 in 10 s); none is refused."""
    async with running_gateway(time_scale=0.25) as gw, connected(gw) as ib:

        async def timed(days: int) -> float:
            sent = gw.clock.monotonic()
            assert await ib.reqHistoricalDataAsync(AAPL, "", f"{days} D", "1 day", "TRADES", True)
            return gw.clock.monotonic() - sent

        waits = await asyncio.gather(*(timed(days) for days in range(5, 65)))
        assert waits[-1] >= 1.0 - 1e-6


async def test_strict_switch_paces_every_bar_size_like_small_bars() -> None:
    """/strict-pacing on: an identical daily-bar request within 15 s gets 162; off: it passes."""
    async with running_gateway(time_scale=1.0) as gw, connected(gw) as ib:
        await ib.reqHistoricalDataAsync(AAPL, "", "1 Y", "1 day", "TRADES", True)
        await ib.reqHistoricalDataAsync(AAPL, "", "1 Y", "1 day", "TRADES", True)
        assert gw.truth()["strict_pacing"] is False
        assert await control(gw, "POST", "/strict-pacing", {"strict": True}) == (
            200,
            {"strict_pacing": True},
        )
        assert gw.truth()["strict_pacing"] is True
        await ib.reqHistoricalDataAsync(AAPL, "", "2 Y", "1 day", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "2 Y", "1 day", "TRADES", True)
        assert info.value.code == 162
        assert PACING_TEXT in info.value.message
        status, _ = await control(gw, "POST", "/strict-pacing", {"strict": False})
        assert status == 200
        await ib.reqHistoricalDataAsync(AAPL, "", "2 Y", "1 day", "TRADES", True)


async def test_strict_pacing_configured_at_start() -> None:
    """SimConfig(strict_pacing=True): the sixth daily-bar request for one contract in 2 s gets 162."""
    async with running_gateway(time_scale=1.0, strict_pacing=True) as gw, connected(gw) as ib:
        for years in range(1, 6):
            await ib.reqHistoricalDataAsync(AAPL, "", f"{years} Y", "1 day", "TRADES", True)
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "6 Y", "1 day", "TRADES", True)
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
