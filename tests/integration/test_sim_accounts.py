"""Account subscriptions: summary, multi, positions multi, unsubscribe, periodic refresh."""

from __future__ import annotations

from ib_async import MarketOrder, Stock

from tests.integration.sim_support import RawClient, connected, running_gateway, until

AAPL = Stock("AAPL", "SMART", "USD", conId=265598)


async def test_account_summary_answers_the_requested_tags() -> None:
    """accountSummary gives NetLiquidation, BuyingPower, ... for the one account."""
    async with running_gateway() as gw, connected(gw) as ib:
        values = {v.tag: v for v in await ib.accountSummaryAsync()}
        assert float(values["NetLiquidation"].value) == 1_000_000.0
        assert float(values["BuyingPower"].value) == 4_000_000.0
        assert values["TotalCashValue"].currency == "USD"
        assert values["AccountType"].value == "INDIVIDUAL"
        assert {v.account for v in values.values()} == {"DU1234567"}


async def test_fills_push_positions_and_refreshes_push_values() -> None:
    """A fill pushes position and positionMulti at once; the 3-minute refresh pushes the summary."""
    async with running_gateway(time_scale=600.0) as gw, connected(gw) as ib:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=8)
        raw.send(["74", "1", "31", "DU1234567", ""])  # reqPositionsMulti
        assert await raw.frame_with_id(72) == ["72", "1", "31"]
        raw.send(["62", "1", "32", "All", "NetLiquidation,TotalCashValue"])  # reqAccountSummary
        assert (await raw.frame_with_id(64))[2] == "32"
        raw.send(["61", "1"])  # reqPositions
        await raw.frame_with_id(62)
        trade = ib.placeOrder(AAPL, MarketOrder("BUY", 4))
        await until(trade.isDone, trade.statusEvent)
        position = await raw.frame_with_id(61)
        assert (position[4], position[-2]) == ("AAPL", "4")
        multi = await raw.frame_with_id(71)
        assert (multi[2], multi[-3]) == ("31", "4")
        summary = await raw.frame_with_id(63)
        assert summary[2] == "32"
        raw.send(["75", "1", "31"])  # cancelPositionsMulti
        raw.send(["63", "1", "32"])  # cancelAccountSummary
        raw.send(["64", "1"])  # cancelPositions
        raw.send(["77", "1", "1"])  # cancelAccountUpdatesMulti (never subscribed: harmless)
        raw.send(["6", "2", "0", "DU1234567"])  # reqAccountUpdates(subscribe=False)
        raw.send(["49", "1"])
        await raw.frame_with_id(49)
        session = gw.hub.session_for(8)
        assert session is not None
        assert (session.positions_multi, session.account_summary, session.positions_subscribed) == (
            {},
            {},
            False,
        )
        await raw.close()


async def test_account_values_refresh_every_three_simulated_minutes() -> None:
    """Subscribers get the account values again without any fill (TWS refreshes periodically)."""
    async with running_gateway(time_scale=600.0) as gw, connected(gw) as ib:
        refreshed: list[str] = []
        ib.accountValueEvent += lambda value: refreshed.append(value.tag)
        await until(lambda: "NetLiquidation" in refreshed, ib.accountValueEvent)


async def test_unsupported_requests_fail_fast_with_322() -> None:
    """A request the sim does not implement (market depth) fails on its id with 322."""
    async with running_gateway() as gw:
        raw = await RawClient.open(gw.port)
        await raw.handshake(client_id=8)
        raw.send(
            [
                "10",
                "5",
                "44",
                "265598",
                "AAPL",
                "STK",
                "",
                "0",
                "",
                "",
                "SMART",
                "",
                "USD",
                "",
                "",
                "5",
                "0",
                "",
            ]
        )
        error = await raw.frame_with_id(4)
        while error[3] != "322":
            error = await raw.frame_with_id(4)
        assert error[2] == "44"
        assert "REQ_MKT_DEPTH is not supported" in error[4]
        raw.send(["24", "1"])  # reqScannerParameters: no request id
        error = await raw.frame_with_id(4)
        assert error[2:4] == ["-1", "322"]
        raw.send(["14", "1", "5"])  # setServerLogLevel: accepted silently
        raw.send(["49", "1"])
        assert (await raw.next_frame())[0] == "49"
        await raw.close()
