"""placeOrder parsing: every conditional segment, as both real clients write it at version 178."""

from __future__ import annotations

import math

import pytest
from ib_async import (
    ComboLeg,
    Contract,
    LimitOrder,
    MarketOrder,
    Order,
    PriceCondition,
    Stock,
    StopLimitOrder,
    TagValue,
    TimeCondition,
)
from ib_async.contract import DeltaNeutralContract
from ibapi.contract import Contract as ApiContract
from ibapi.order import Order as ApiOrder
from ibapi.order_condition import Create, OrderCondition

from ibbot.sim.requests import PlaceOrder, parse_place_order, read_contract
from ibbot.sim.wire import SERVER_VERSION, FieldReader, ProtocolError
from tests.unit.tws_clients import CapturingClient, CapturingEClient


def _ib_async_fields(contract: Contract, order: Order, order_id: int = 11) -> list[str]:
    client = CapturingClient()
    client.placeOrder(order_id, contract, order)
    (fields,) = client.sent
    return fields


def _parse(fields: list[str]) -> PlaceOrder:
    assert fields[0] == "3"
    return parse_place_order(FieldReader(fields, start=1), SERVER_VERSION)


def test_plain_market_order_is_114_fields_and_parses() -> None:
    """A plain MKT order from ib_async: 114 fields, every kept field read from its place."""
    order = MarketOrder("BUY", 100, orderRef="sma:1", account="DU1", outsideRth=True, tif="GTC")
    fields = _ib_async_fields(Stock("AAPL", "SMART", "USD", primaryExchange="NASDAQ"), order)
    assert len(fields) == 114
    parsed = _parse(fields)
    assert parsed.order_id == 11
    assert parsed.contract.symbol == "AAPL"
    assert parsed.contract.primary_exchange == "NASDAQ"
    assert (parsed.action, parsed.quantity, parsed.order_type) == ("BUY", 100.0, "MKT")
    assert parsed.limit_price is None
    assert (parsed.tif, parsed.account, parsed.order_ref) == ("GTC", "DU1", "sma:1")
    assert parsed.outside_rth
    assert parsed.transmit
    assert not parsed.what_if


def test_limit_and_stop_limit_prices() -> None:
    """Limit price and aux (stop) price land in limit_price / aux_price."""
    parsed = _parse(_ib_async_fields(Stock("MSFT", "SMART", "USD"), LimitOrder("SELL", 5, 412.5)))
    assert (parsed.order_type, parsed.limit_price, parsed.aux_price) == ("LMT", 412.5, None)
    parsed = _parse(
        _ib_async_fields(Stock("MSFT", "SMART", "USD"), StopLimitOrder("SELL", 5, 400.0, 401.0))
    )
    assert (parsed.order_type, parsed.limit_price, parsed.aux_price) == ("STP LMT", 400.0, 401.0)


def test_what_if_flag_is_found_after_the_variable_segments() -> None:
    """whatIf (index 84 for a plain order) is read correctly."""
    order = MarketOrder("BUY", 1)
    order.whatIf = True
    assert _parse(_ib_async_fields(Stock("AAPL", "SMART", "USD"), order)).what_if


def test_conditional_segments_are_walked() -> None:
    """Algo params, conditions, delta-neutral, scale, hedge and PEG MID segments are all walked."""
    order = LimitOrder("BUY", 100, 10.0)
    order.algoStrategy = "Adaptive"
    order.algoParams = [TagValue("adaptivePriority", "Normal")]
    order.conditions = [
        PriceCondition(price=10.0, conId=265598, exch="SMART"),
        TimeCondition(time="20260302 10:00:00 US/Eastern"),
    ]
    order.deltaNeutralOrderType = "LMT"
    order.scalePriceIncrement = 0.05
    order.hedgeType = "D"
    order.hedgeParam = "0.5"
    order.whatIf = True
    order.cashQty = 1000.0
    contract = Stock("AAPL", "SMART", "USD")
    contract.deltaNeutralContract = DeltaNeutralContract(conId=1, delta=0.5, price=10.0)
    parsed = _parse(_ib_async_fields(contract, order))
    assert parsed.algo_strategy == "Adaptive"
    assert parsed.condition_count == 2
    assert parsed.cash_quantity == 1000.0
    assert parsed.what_if

    peg = Order(action="BUY", totalQuantity=1, orderType="PEG MID", lmtPrice=10.0)
    peg.midOffsetAtWhole = 0.01
    peg.midOffsetAtHalf = 0.005
    ats = Stock("AAPL", "IBKRATS", "USD")
    assert _parse(_ib_async_fields(ats, peg)).order_type == "PEG MID"

    best = Order(action="BUY", totalQuantity=1, orderType="PEG BEST", lmtPrice=10.0)
    best.competeAgainstBestOffset = math.inf
    assert _parse(_ib_async_fields(Stock("AAPL", "SMART", "USD"), best)).order_type == "PEG BEST"


def test_combo_order_segments_are_walked() -> None:
    """A BAG order's legs, leg prices and routing params are skipped correctly."""
    bag = Contract(secType="BAG", symbol="AAPL", exchange="SMART", currency="USD")
    bag.comboLegs = [ComboLeg(conId=1, ratio=1, action="BUY", exchange="SMART")]
    order = LimitOrder("BUY", 1, 1.0)
    order.smartComboRoutingParams = [TagValue("NonGuaranteed", "1")]
    parsed = _parse(_ib_async_fields(bag, order))
    assert parsed.is_combo
    assert parsed.limit_price == 1.0


def test_official_client_place_order_parses() -> None:
    """IB's own EClient writes the same layout at 178 (conditions included)."""
    contract = ApiContract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "AAPL",
        "STK",
        "SMART",
        "USD",
    )
    order = ApiOrder()
    order.action, order.totalQuantity, order.orderType, order.lmtPrice = "BUY", 10, "LMT", 200.0
    order.orderRef = "ref"
    condition = Create(OrderCondition.Price)
    condition.conId, condition.exchange, condition.price, condition.isMore = (
        265598,
        "SMART",
        199.0,
        True,
    )
    condition.triggerMethod = 0
    order.conditions = [condition]
    client = CapturingEClient()
    client.placeOrder(21, contract, order)
    (fields,) = client.sent
    parsed = _parse(fields)
    assert (parsed.order_id, parsed.contract.symbol, parsed.limit_price) == (21, "AAPL", 200.0)
    assert (parsed.order_ref, parsed.condition_count) == ("ref", 1)


def test_extra_or_missing_fields_are_protocol_errors() -> None:
    """A placeOrder longer or shorter than the layout is refused, never half-understood."""
    fields = _ib_async_fields(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 1))
    with pytest.raises(ProtocolError, match="beyond"):
        _parse([*fields, "extra"])
    with pytest.raises(ProtocolError, match="ends before"):
        _parse(fields[:-3])
    bad_condition = list(fields)
    bad_condition[89] = "1"  # one condition ...
    bad_condition.insert(90, "2")  # ... of an unknown type
    with pytest.raises(ProtocolError, match="condition type"):
        _parse(bad_condition)


def test_contract_block_is_read_from_twelve_fields() -> None:
    """read_contract takes conId .. tradingClass; the strike becomes a number or None."""
    reader = FieldReader(
        ["265598", "AAPL", "STK", "", "0.0", "", "", "SMART", "NASDAQ", "USD", "", ""]
    )
    spec = read_contract(reader)
    assert (spec.con_id, spec.symbol, spec.exchange, spec.primary_exchange) == (
        265598,
        "AAPL",
        "SMART",
        "NASDAQ",
    )
    assert spec.strike == 0.0
    assert reader.remaining == 0
    assert "AAPL" in spec.describe()
