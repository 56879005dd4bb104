"""Historical data requests cannot stall the simulated gateway: IB's limits, answers served in slices."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import RequestError, Stock

from ibbot.models import BarSize
from ibbot.sim.market import HistoricalDataError, parse_duration
from tests.integration.sim_support import (
    RawClient,
    connected,
    control,
    running_gateway,
)

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)
_CONTRACT = ["265598", "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", ""]
EXCEED = "Historical Market Data Service error message:Time length exceed max."
# The largest request the gateway serves: a year of extended-hours hourly bars, about 4,000 bars
# each aggregated from minutes (a second or two of work).
MAXIMAL = ("1 hour", "1 Y")
BIG_ANSWER_WAIT = 45.0


def _history(req_id: int, bar_size: str, duration: str, *, use_rth: bool) -> list[object]:
    return [
        "20",
        req_id,
        *_CONTRACT,
        "0",
        "",
        bar_size,
        duration,
        int(use_rth),
        "TRADES",
        "1",
        "0",
        "",
    ]


@pytest.mark.parametrize(
    ("duration", "bar_size"),
    [
        ("68 Y", BarSize.MIN_1),  # 16 million bars
        ("1 Y", BarSize.MIN_1),  # froze the gateway 56 s at 377 MB
        ("6 M", BarSize.MIN_1),  # froze it 10 s
        ("2 W", BarSize.MIN_1),
        ("13 D", BarSize.MIN_1),
        ("2 Y", BarSize.HOUR_1),
        ("2 Y", BarSize.HOUR_8),
        ("1 M", BarSize.SEC_30),
        ("2 D", BarSize.SEC_5),
        ("52 W", BarSize.MIN_30),
    ],
)
def test_durations_beyond_ib_step_limits_are_refused(duration: str, bar_size: BarSize) -> None:
    """Too many bars for the bar size: IB's 162 "Time length exceed max.", nothing computed."""
    with pytest.raises(HistoricalDataError) as info:
        parse_duration(duration, bar_size)
    assert (info.value.code, info.value.message) == (162, EXCEED)


async def test_an_oversized_request_is_answered_with_ibs_error() -> None:
    """Two weeks of extended-hours minute bars get error 162 at once; the client keeps working."""
    async with running_gateway() as gw, connected(gw) as ib:
        with pytest.raises(RequestError) as info:
            await ib.reqHistoricalDataAsync(AAPL, "", "2 W", "1 min", "TRADES", False)
        assert (info.value.code, info.value.message) == (162, EXCEED)
        bars = await ib.reqHistoricalDataAsync(AAPL, "", "1 W", "1 min", "TRADES", False)
        assert len(bars) > 1_000


async def test_others_are_answered_while_a_maximal_request_is_served() -> None:
    """A second client and the control port get their answers while the largest allowed history
    answer is still being computed; then that answer arrives whole."""
    async with running_gateway(pacing=False) as gw, connected(gw, client_id=2) as other:
        big = await RawClient.open(gw.port)
        try:
            await big.handshake(client_id=1)
            await big.frame_with_id(9)  # nextValidId: the API session has started
            session = gw.hub.session_for(1)
            assert session is not None
            big.send(_history(7, *MAXIMAL, use_rth=False))
            answered = await asyncio.gather(
                other.reqCurrentTimeAsync(), control(gw, "GET", "/truth")
            )
            assert session.has_stream(("hist", 7)), "the big answer was done before the others"
            assert answered[1][0] == 200
            assert await other.reqCurrentTimeAsync() is not None
            # a second or two of work on an idle machine; far longer when the cores are busy
            big.wait = BIG_ANSWER_WAIT
            frame = await big.frame_with_id(17)
            count = int(frame[4])
            assert count > 3_500
            assert len(frame) == 5 + 8 * count
        finally:
            await big.close()
