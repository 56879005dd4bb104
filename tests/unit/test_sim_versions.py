"""Every layout that changes between 157 and 178, written and read at each version by real clients.

For each server version the gateway can negotiate, the version-dependent messages are encoded at it
and fed to IB's decoder (which must read every field, no more, no fewer) and to ib_async's (which
must find each value where the sim put it); placeOrder as both clients write it at that version is
parsed back to what they sent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from ib_async import LimitOrder, Stock
from ibapi.contract import Contract as ApiContract
from ibapi.order import Order as ApiOrder

from ibbot.sim import messages as msg
from ibbot.sim import stock_rules
from ibbot.sim.requests import parse_place_order
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.sim.versions import (
    MAX_SERVER_VERSION,
    MIN_SERVER_VERSION,
    Feature,
    Negotiation,
    negotiate,
)
from ibbot.sim.wire import UNSET_DOUBLE, UNSET_INTEGER, FieldReader, fields_at
from tests.unit.tws_clients import CapturingClient, CapturingEClient, decode_ib_async, decode_ibapi

VERSIONS = range(MIN_SERVER_VERSION, MAX_SERVER_VERSION + 1)
AAPL = DEFAULT_UNIVERSE["AAPL"]


def _view(**overrides: object) -> msg.OrderView:
    values: dict[str, object] = {
        "order_id": 7,
        "client_id": 3,
        "perm_id": 123456,
        "security": AAPL,
        "exchange": "SMART",
        "action": "BUY",
        "quantity": 100.0,
        "order_type": "LMT",
        "limit_price": 229.5,
        "aux_price": None,
        "tif": "DAY",
        "account": "DU1234567",
        "order_ref": "sma:42",
        "outside_rth": False,
        "status": "Submitted",
        "filled": 40.0,
        "completed_time": "20260302 10:00:01 US/Eastern",
        "completed_status": "Cancelled",
    }
    values.update(overrides)
    return msg.OrderView(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        ((157, 178), Negotiation(178)),
        ((100, 226), Negotiation(178)),
        ((157, 176), Negotiation(176)),
        ((157, 157), Negotiation(157)),
        ((170, 170), Negotiation(170)),
        ((178, 300), Negotiation(178)),
        ((179, 226), Negotiation(178, "server")),
        ((100, 156), Negotiation(157, "client")),
    ],
)
def test_negotiation_answers_the_highest_common_version(
    offer: tuple[int, int], expected: Negotiation
) -> None:
    """Overlapping ranges get the highest common version; disjoint ones the nearest, refused."""
    assert negotiate(*offer) == expected
    assert expected.accepted == (expected.refusal is None)


@pytest.mark.parametrize("version", VERSIONS)
def test_error_at_each_version(version: int) -> None:
    """error: advancedOrderRejectJson only from 166; both clients read it whole."""
    fields = msg.error(12, 201, "Order rejected - reason:x")
    assert len(fields_at(fields, version)) == (6 if version >= 166 else 5)
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    assert api.named("error")[0][0] == 12
    assert api.named("error")[0][2:4] == (201, "Order rejected - reason:x")
    assert decode_ib_async(fields, version).named("error") == [
        (12, 201, "Order rejected - reason:x", "")
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_contract_details_at_each_version(version: int) -> None:
    """contractData: version field and mdSizeMultiplier before 164, sizeMinTick at 163, size rules after."""
    fields = msg.contract_details(
        5, AAPL, exchange="SMART", trading_hours="20260302:0930-20260302:1600", liquid_hours="L"
    )
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    ((req_id, details),) = api.named("contractDetails")
    assert req_id == 5
    assert (details.contract.conId, details.minTick) == (AAPL.con_id, AAPL.min_tick)
    assert (details.longName, details.contract.primaryExchange) == (AAPL.long_name, "NASDAQ")
    assert (details.timeZoneId, details.liquidHours) == ("US/Eastern", "L")
    assert (details.aggGroup, details.stockType) == (1, "COMMON")
    assert details.marketRuleIds == stock_rules.MARKET_RULE_IDS
    assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", AAPL.isin)]
    if version >= Feature.SIZE_RULES:
        assert (details.minSize, details.sizeIncrement) == (Decimal("0.0001"), Decimal("0.0001"))
        assert details.suggestedSizeIncrement == Decimal(100)
    ((req_id, cd),) = decode_ib_async(fields, version).named("contractDetails")
    assert (req_id, cd.contract.conId, cd.minTick, cd.longName) == (
        5,
        AAPL.con_id,
        AAPL.min_tick,
        AAPL.long_name,
    )
    assert (cd.contract.multiplier, cd.orderTypes) == ("", ",".join(stock_rules.ORDER_TYPES))
    assert (cd.marketRuleIds, cd.stockType) == (stock_rules.MARKET_RULE_IDS, "COMMON")


def _check_order(order: Any) -> None:
    """Fields from the head, the middle (after faProfile) and the tail of an order message."""
    assert order.permId == 123456
    assert (order.action, order.orderType, order.lmtPrice) == ("BUY", "LMT", 229.5)
    assert (order.account, order.orderRef) == ("DU1234567", "sma:42")
    assert (order.modelCode, order.goodTillDate, order.rule80A) == ("", "", "")
    assert order.ocaType == 3
    assert order.cashQty == UNSET_DOUBLE


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_at_each_version(version: int) -> None:
    """openOrder: faProfile until 177; duration, postToAts, autoCancelParent, PEG fields from theirs."""
    fields = msg.open_order(_view())
    assert len(fields_at(fields, MAX_SERVER_VERSION)) == 127
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    ((order_id, contract, order, state),) = api.named("openOrder")
    assert (order_id, contract.conId, state.status) == (7, AAPL.con_id, "Submitted")
    _check_order(order)
    if version >= Feature.DURATION:
        assert order.duration == UNSET_INTEGER
    if version >= Feature.PEGBEST_PEGMID_OFFSETS:
        assert order.midOffsetAtHalf == UNSET_DOUBLE
    ((order_id, contract, order, state),) = decode_ib_async(fields, version).named("openOrder")
    assert (order_id, contract.conId, state.status) == (7, AAPL.con_id, "Submitted")
    _check_order(order)
    assert order.usePriceMgmtAlgo is False


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_at_each_version(version: int) -> None:
    """completedOrder: faProfile until 177, the five PEG fields from 170; both clients read it."""
    fields = msg.completed_order(_view(status="Cancelled"))
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    ((contract, order, state),) = api.named("completedOrder")
    assert (contract.conId, state.status, state.completedStatus) == (
        AAPL.con_id,
        "Cancelled",
        "Cancelled",
    )
    assert state.completedTime == "20260302 10:00:01 US/Eastern"
    assert order.filledQuantity == Decimal(40)
    _check_order(order)
    ((contract, order, state),) = decode_ib_async(fields, version).named("completedOrder")
    assert (state.status, state.completedTime) == ("Cancelled", "20260302 10:00:01 US/Eastern")
    assert order.filledQuantity == 40
    _check_order(order)


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_details_at_each_version(version: int) -> None:
    """execDetails: 31 fields, pendingPriceRevision the 32nd from 178 (ib_insync takes exactly 31)."""
    fields = msg.exec_details(
        req_id=-1,
        order_id=7,
        client_id=3,
        perm_id=123456,
        security=AAPL,
        exec_id="0000e0d5.65f3a2b1.01.01",
        time="20260302 10:00:01 US/Eastern",
        account="DU1234567",
        exchange="NASDAQ",
        side="BOT",
        shares=100,
        price=229.51,
        cum_qty=100,
        avg_price=229.51,
        order_ref="sma:42",
        last_liquidity=2,
    )
    assert len(fields_at(fields, version)) == (32 if version >= 178 else 31)
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    ((req_id, _, execution),) = api.named("execDetails")
    assert (req_id, execution.execId, execution.shares) == (-1, "0000e0d5.65f3a2b1.01.01", 100)
    assert (execution.lastLiquidity, execution.permId) == (2, 123456)
    ((req_id, _, ex),) = decode_ib_async(fields, version).named("execDetails")
    assert (ex.price, ex.cumQty, ex.avgPrice, ex.orderRef) == (229.51, 100, 229.51, "sma:42")
    assert ex.lastLiquidity == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_place_order_as_each_client_writes_it_at_each_version(version: int) -> None:
    """placeOrder from ib_async and ibapi at every version parses to what they sent."""
    ib_async = CapturingClient(version)
    ib_async.placeOrder(
        21, Stock("AAPL", "SMART", "USD"), LimitOrder("SELL", 30, 231.25, orderRef="v")
    )
    contract = ApiContract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "AAPL",
        "STK",
        "SMART",
        "USD",
    )
    order = ApiOrder()
    order.action, order.orderType, order.totalQuantity, order.lmtPrice = (
        "SELL",
        "LMT",
        Decimal(30),
        231.25,
    )
    order.orderRef = "v"
    ibapi = CapturingEClient(version)
    ibapi.placeOrder(21, contract, order)
    for fields in (*ib_async.sent, *ibapi.sent):
        parsed = parse_place_order(FieldReader(fields, start=1), version)
        assert (parsed.order_id, parsed.contract.symbol, parsed.action) == (21, "AAPL", "SELL")
        assert (parsed.quantity, parsed.limit_price, parsed.order_ref) == (30.0, 231.25, "v")


@pytest.mark.parametrize("version", VERSIONS)
def test_symbol_samples_at_each_version(version: int) -> None:
    """symbolSamples: each description's name and issuerId only from 176; both clients read it."""
    fields = msg.symbol_samples(4, [AAPL, DEFAULT_UNIVERSE["JPM"]])
    api = decode_ibapi(fields, version)
    assert api.unread == 0
    ((req_id, descriptions),) = api.named("symbolSamples")
    assert req_id == 4
    assert [d.contract.symbol for d in descriptions] == ["AAPL", "JPM"]
    assert [d.contract.primaryExchange for d in descriptions] == ["NASDAQ.NMS", "NYSE"]
    ((req_id, samples),) = decode_ib_async(fields, version).named("symbolSamples")
    assert [(d.contract.conId, d.contract.currency) for d in samples] == [
        (AAPL.con_id, "USD"),
        (DEFAULT_UNIVERSE["JPM"].con_id, "USD"),
    ]
    if version >= Feature.BOND_ISSUERID:
        assert descriptions[0].contract.description == AAPL.long_name
        assert samples[0].contract.description == AAPL.long_name
