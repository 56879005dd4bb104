"""Contract details and qualification against the simulated security master."""

from __future__ import annotations

import asyncio

import pytest
from ib_async import IB, Contract, ContractDescription, Option, PriceIncrement, Stock
from ib_async.wrapper import RequestError

from tests.integration.sim_support import WAIT, connected, running_gateway


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


async def test_contract_details_are_ibs_for_a_us_stock() -> None:
    """ISIN, IB's fractional size rules, its 26 venues and 71 order types, a rule id per venue."""
    async with running_gateway() as gw, connected(gw) as ib:
        (details,) = await ib.reqContractDetailsAsync(Stock("AAPL", "SMART", "USD"))
        assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", "US0378331005")]
        assert (details.minSize, details.sizeIncrement, details.suggestedSizeIncrement) == (
            0.0001,
            0.0001,
            100,
        )
        venues = details.validExchanges.split(",")
        assert len(venues) == 26
        assert {"SMART", "NASDAQ", "NYSE", "ARCA", "IEX", "OVERNIGHT"} <= set(venues)
        assert len(details.orderTypes.split(",")) == 71
        assert {"MKT", "LMT", "STP", "STPLMT", "TRAIL", "MOC"} <= set(details.orderTypes.split(","))
        assert details.stockType == "COMMON"
        (jpm,) = await ib.reqContractDetailsAsync(Stock("JPM", "SMART", "USD"))
        assert [(t.tag, t.value) for t in jpm.secIdList] == [("ISIN", "US46625H1005")]
        assert jpm.validExchanges == details.validExchanges


async def test_every_venue_has_its_market_rule() -> None:
    """marketRuleIds has one id per valid exchange; each rule is the contract's one-cent tick."""
    async with running_gateway() as gw, connected(gw) as ib:
        (details,) = await ib.reqContractDetailsAsync(Stock("MSFT", "SMART", "USD"))
        rule_ids = [int(r) for r in details.marketRuleIds.split(",")]
        assert len(rule_ids) == len(details.validExchanges.split(","))
        for rule_id in set(rule_ids):
            increments = await _market_rule(ib, rule_id)
            assert [(i.lowEdge, i.increment) for i in increments] == [(0.0, details.minTick)]


async def test_a_listed_venue_routes_the_stock() -> None:
    """A contract on any venue IB lists (ARCA, ISLAND for Nasdaq) qualifies with that exchange."""
    async with running_gateway() as gw, connected(gw) as ib:
        arca = Stock("AAPL", "ARCA", "USD")
        island = Stock("MSFT", "SMART", "USD", primaryExchange="ISLAND")
        assert await ib.qualifyContractsAsync(arca, island) == [arca, island]
        assert (arca.conId, arca.exchange) == (265598, "ARCA")
        assert island.conId == 272093


async def test_matching_symbols_by_prefix_and_by_name() -> None:
    """reqMatchingSymbols finds tickers by their first letters and stocks by a word of the name."""
    async with running_gateway() as gw, connected(gw) as ib:
        by_prefix = await _matching(ib, "JP")
        assert [(d.contract.symbol, d.contract.conId) for d in by_prefix] == [("JPM", 1520593)]
        assert by_prefix[0].contract.primaryExchange == "NYSE"
        assert by_prefix[0].contract.description == "JPMORGAN CHASE & CO"
        by_name = await _matching(ib, "Microsoft")
        assert [(d.contract.symbol, d.contract.primaryExchange) for d in by_name] == [
            ("MSFT", "NASDAQ.NMS")
        ]
        assert [d.contract.symbol for d in await _matching(ib, "coca-cola")] == ["KO"]
        assert await _matching(ib, "NOSUCHNAME") == []
        # a description qualifies as it is (its primaryExchange is IB's name for Nasdaq)
        assert await ib.qualifyContractsAsync(by_name[0].contract) == [by_name[0].contract]


async def test_sec_def_opt_params_is_empty_but_well_formed() -> None:
    """The simulation lists no options: a known underlying gets no chains, an unknown one 200."""
    async with running_gateway() as gw, connected(gw) as ib:
        assert await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", 265598) == []
        with pytest.raises(RequestError) as info:
            await ib.reqSecDefOptParamsAsync("NOPE", "", "STK", 0)
        assert info.value.code == 200


async def _matching(ib: IB, pattern: str) -> list[ContractDescription]:
    """reqMatchingSymbols with a generous bound (ib_async's own Async wrapper allows 4 s)."""
    req_id = ib.client.getReqId()
    future = ib.wrapper.startReq(req_id)
    ib.client.reqMatchingSymbols(req_id, pattern)
    result: list[ContractDescription] = await asyncio.wait_for(future, WAIT)
    return result


async def _market_rule(ib: IB, rule_id: int) -> list[PriceIncrement]:
    """reqMarketRule with a generous bound (ib_async's own Async wrapper allows 1 s)."""
    future = ib.wrapper.startReq(f"marketRule-{rule_id}")
    ib.client.reqMarketRule(rule_id)
    result: list[PriceIncrement] = await asyncio.wait_for(future, WAIT)
    return result
