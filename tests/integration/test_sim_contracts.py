"""Contract details and qualification against the simulated security master."""

from __future__ import annotations

import pytest
from ib_async import Contract, Option, Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import connected, running_gateway


async def test_contract_details_carry_the_security_master() -> None:
    """reqContractDetails returns IB's description: conId, listing, classification, hours."""
    async with running_gateway() as gw, connected(gw) as ib:
        (details,) = await ib.reqContractDetailsAsync(Stock("JPM", "SMART", "USD"))
        contract = details.contract
        assert contract is not None
        assert (contract.conId, contract.primaryExchange, contract.exchange) == (
            1520593,
            "NYSE",
            "SMART",
        )
        assert details.longName == "JPMORGAN CHASE & CO"
        assert (details.industry, details.category) == ("Financial", "Banks")
        assert details.minTick == 0.01
        assert details.timeZoneId == "US/Eastern"
        assert details.tradingHours.startswith("20260302:0400-20260302:2000")
        assert "20260302:0930-20260302:1600" in details.liquidHours
        assert "CLOSED" in details.liquidHours  # the weekend within the seven days listed


async def test_qualify_smart_with_primary_exchange_and_by_con_id() -> None:
    """qualifyContracts fills conId etc. for SMART+primaryExchange, and works from a bare conId."""
    async with running_gateway() as gw, connected(gw) as ib:
        smart = Stock("AAPL", "SMART", "USD", primaryExchange="NASDAQ")
        by_id = Contract(conId=272093)
        listing = Stock("KO", "NYSE", "USD")
        result = await ib.qualifyContractsAsync(smart, by_id, listing)
        assert result == [smart, by_id, listing]
        assert smart.conId == 265598
        assert smart.exchange == "SMART"
        assert (by_id.symbol, by_id.secType, by_id.primaryExchange) == ("MSFT", "STK", "NASDAQ")
        assert (listing.conId, listing.exchange) == (8894, "NYSE")


async def test_unknown_symbols_get_error_200() -> None:
    """An unknown symbol, a wrong primary exchange or an option: error 200, qualify gives None."""
    async with running_gateway() as gw, connected(gw) as ib:
        with pytest.raises(RequestError) as info:
            await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD"))
        assert info.value.code == 200
        assert "No security definition" in info.value.message
        ib.RaiseRequestErrors = False
        result = await ib.qualifyContractsAsync(
            Stock("AAPL", "SMART", "USD", primaryExchange="NYSE"),
            Option("AAPL", "20260320", 200.0, "C", "SMART"),
        )
        assert result == [None, None]


async def test_restricted_universe_hides_other_symbols() -> None:
    """With --symbols, other stocks of the default universe are unknown (200)."""
    async with running_gateway(symbols=("AAPL",)) as gw, connected(gw) as ib:
        assert await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        with pytest.raises(RequestError):
            await ib.reqContractDetailsAsync(Stock("MSFT", "SMART", "USD"))


async def test_market_rule_is_cents() -> None:
    """reqMarketRule for the advertised rule id answers a one-cent increment."""
    async with running_gateway() as gw, connected(gw) as ib:
        (details,) = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        rule_id = int(details.marketRuleIds.split(",")[0])
        increments = await ib.reqMarketRuleAsync(rule_id)
        assert increments is not None
        assert [(i.lowEdge, i.increment) for i in increments] == [(0.0, 0.01)]
