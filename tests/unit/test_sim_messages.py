"""Gateway messages: both real clients (ib_async 2.1 and ibapi 10.50) decode every layout at 178."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from ibbot.sim import messages as msg
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.sim.wire import UNSET_DOUBLE, fields_at
from tests.unit.tws_clients import decode_ib_async, decode_ibapi

AAPL = DEFAULT_UNIVERSE["AAPL"]
JPM = DEFAULT_UNIVERSE["JPM"]


@pytest.fixture(autouse=True)
def _no_decoder_errors(caplog: pytest.LogCaptureFixture) -> None:
    """ib_async logs (rather than raises) decoding failures: none may appear."""
    caplog.set_level(logging.ERROR)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


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
    }
    values.update(overrides)
    return msg.OrderView(**values)  # type: ignore[arg-type]


def test_handshake_helpers_have_exact_counts() -> None:
    """nextValidId and managedAccounts are exactly 3 fields (ib_async snoops them before ready)."""
    assert len(msg.next_valid_id(1)) == 3
    assert len(msg.managed_accounts(["DU1"])) == 3
    assert decode_ib_async(msg.next_valid_id(5)).named("nextValidId") == [(5,)]
    assert decode_ibapi(msg.next_valid_id(5)).named("nextValidId") == [(5,)]
    assert decode_ibapi(msg.managed_accounts(["DU1"])).named("managedAccounts") == [("DU1",)]


def test_error_has_six_fields_and_decodes() -> None:
    """error carries advancedOrderRejectJson as its 6th field, required at version 166+."""
    fields = msg.error(-1, 2104, "Market data farm connection is OK:usfarm")
    assert len(fields_at(fields, 178)) == 6
    assert decode_ib_async(fields).named("error") == [
        (-1, 2104, "Market data farm connection is OK:usfarm", "")
    ]
    assert decode_ibapi(fields).named("error") == [
        (-1, 0, 2104, "Market data farm connection is OK:usfarm", "")
    ]


def test_contract_details_decode_in_both_clients() -> None:
    """contractData is read field for field by both clients, trading hours included."""
    fields = msg.contract_details(
        9, AAPL, exchange="SMART", trading_hours="20260302:0930-20260302:1600", liquid_hours="x"
    )
    (ib_args,) = decode_ib_async(fields).named("contractDetails")
    req_id, details = ib_args
    assert req_id == 9
    assert details.contract.conId == AAPL.con_id
    assert details.contract.primaryExchange == "NASDAQ"
    assert details.contract.tradingClass == "NMS"
    assert details.longName == "APPLE INC"
    assert details.minTick == 0.01
    assert details.tradingHours == "20260302:0930-20260302:1600"
    assert details.suggestedSizeIncrement == 100
    (api_args,) = decode_ibapi(fields).named("contractDetails")
    assert api_args[1].contract.conId == AAPL.con_id
    assert api_args[1].industry == "Technology"
    assert api_args[1].stockType == "COMMON"
    assert decode_ibapi(msg.contract_details_end(9)).named("contractDetailsEnd") == [(9,)]


def test_contract_details_carry_ib_identifiers_venues_and_size_rules() -> None:
    """ISIN in secIdList, IB's 26 venues with a rule id each, its order types, 0.0001 size rules."""
    fields = msg.contract_details(9, JPM, exchange="SMART", trading_hours="", liquid_hours="")
    ((_, details),) = decode_ib_async(fields).named("contractDetails")
    assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", "US46625H1005")]
    venues = details.validExchanges.split(",")
    assert len(venues) == 26
    assert venues[:3] == ["SMART", "AMEX", "NYSE"]
    assert {"NASDAQ", "ARCA", "IEX", "OVERNIGHT"} <= set(venues)
    assert details.marketRuleIds.split(",") == ["26"] * len(venues)
    order_types = details.orderTypes.split(",")
    assert len(order_types) == 71
    assert {"MKT", "LMT", "STP", "STPLMT", "TRAIL", "MOC", "LOC", "REL", "GTD", "IOC"} <= set(
        order_types
    )
    assert (details.minSize, details.sizeIncrement, details.suggestedSizeIncrement) == (
        0.0001,
        0.0001,
        100,
    )
    ((_, api),) = decode_ibapi(fields).named("contractDetails")
    assert [(t.tag, t.value) for t in api.secIdList] == [("ISIN", "US46625H1005")]
    assert (api.minSize, api.sizeIncrement, api.suggestedSizeIncrement) == (
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal(100),
    )
    assert api.validExchanges == details.validExchanges
    assert api.marketRuleIds == details.marketRuleIds
    assert api.aggGroup == 1


def test_symbol_samples_decode_in_both_clients() -> None:
    """symbolSamples: per stock conId, symbol, STK, listing, currency, no derivatives, the name."""
    fields = msg.symbol_samples(5, [AAPL, JPM])
    ((req_id, descriptions),) = decode_ib_async(fields).named("symbolSamples")
    assert req_id == 5
    contracts = [d.contract for d in descriptions]
    assert [(c.conId, c.symbol, c.secType, c.currency) for c in contracts] == [
        (265598, "AAPL", "STK", "USD"),
        (1520593, "JPM", "STK", "USD"),
    ]
    assert [c.primaryExchange for c in contracts] == ["NASDAQ.NMS", "NYSE"]
    assert [c.description for c in contracts] == ["APPLE INC", "JPMORGAN CHASE & CO"]
    assert [d.derivativeSecTypes for d in descriptions] == [[], []]
    ((api_id, api_descriptions),) = decode_ibapi(fields).named("symbolSamples")
    assert api_id == 5
    assert [d.contract.symbol for d in api_descriptions] == ["AAPL", "JPM"]
    assert [d.contract.description for d in api_descriptions] == [
        "APPLE INC",
        "JPMORGAN CHASE & CO",
    ]
    assert decode_ib_async(msg.symbol_samples(6, [])).named("symbolSamples") == [(6, [])]


def test_option_parameter_end_decodes_in_both_clients() -> None:
    """securityDefinitionOptionParameterEnd: the request id, nothing else."""
    fields = msg.security_definition_option_parameter_end(8)
    assert decode_ib_async(fields).named("securityDefinitionOptionParameterEnd") == [(8,)]
    assert decode_ibapi(fields).named("securityDefinitionOptionParameterEnd") == [(8,)]


def test_tick_messages_decode() -> None:
    """tickPrice (exactly 7 fields) carries its size; tickSize/tickString/snapshot end decode."""
    price = msg.tick_price(4, 1, 229.51, 300)
    assert len(price) == 7
    assert decode_ib_async(price).named("priceSizeTick") == [(4, 1, 229.51, 300.0)]
    api = decode_ibapi(price)
    assert api.named("tickPrice")[0][:3] == (4, 1, 229.51)
    assert api.named("tickSize") == [(4, 0, Decimal(300))]
    assert decode_ib_async(msg.tick_size(4, 8, 12345)).named("tickSize") == [(4, 8, 12345.0)]
    assert decode_ibapi(msg.tick_string(4, 45, "1767000000")).named("tickString") == [
        (4, 45, "1767000000")
    ]
    assert decode_ib_async(msg.tick_snapshot_end(4)).named("tickSnapshotEnd") == [(4,)]
    assert decode_ibapi(msg.market_data_type(4, 3)).named("marketDataType") == [(4, 3)]
    assert decode_ib_async(msg.tick_req_params(4, 0.01, "9c0001", 3)).named("tickReqParams") == [
        (4, 0.01, "9c0001", 3)
    ]


def test_historical_messages_decode() -> None:
    """historicalData bars and the keepUpToDate update (open, close, high, low order) decode."""
    bar = msg.HistoricalBarRow(
        "20260302 09:30:00 US/Eastern", 10.0, 11.0, 9.5, 10.5, 1200, 10.2, 17
    )
    fields = msg.historical_data(3, "start", "end", [bar, bar])
    ib = decode_ib_async(fields)
    assert len(ib.named("historicalData")) == 2
    assert ib.named("historicalDataEnd") == [(3, "start", "end")]
    first = ib.named("historicalData")[0][1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        10,
        11,
        9.5,
        10.5,
        1200,
    )
    assert first.barCount == 17
    api = decode_ibapi(fields)
    assert api.named("historicalDataEnd") == [(3, "start", "end")]
    update = decode_ib_async(msg.historical_data_update(3, bar)).named("historicalDataUpdate")
    assert (update[0][1].open, update[0][1].close, update[0][1].high) == (10, 10.5, 11)
    assert decode_ibapi(msg.historical_data_update(3, bar)).named("historicalDataUpdate")


def test_realtime_bar_fundamentals_and_head_timestamp_decode() -> None:
    """realtimeBar, fundamentalData and headTimestamp decode in ib_async."""
    rt = msg.realtime_bar(
        5,
        epoch_seconds=1767000000,
        open_=1.0,
        high=2.0,
        low=0.5,
        close=1.5,
        volume=10,
        wap=1.2,
        count=3,
    )
    assert decode_ib_async(rt).named("realtimeBar") == [
        (5, 1767000000, 1.0, 2.0, 0.5, 1.5, 10.0, 1.2, 3)
    ]
    assert decode_ibapi(rt).named("realtimeBar")[0][:2] == (5, 1767000000)
    assert decode_ib_async(msg.fundamental_data(6, "<x/>")).named("fundamentalData") == [
        (6, "<x/>")
    ]
    assert decode_ib_async(msg.head_timestamp(7, "1767000000")).named("headTimestamp") == [
        (7, "1767000000")
    ]
    assert decode_ib_async(msg.current_time(1767000000)).named("currentTime") == [(1767000000,)]


def test_open_order_has_127_fields_and_decodes_in_both_clients() -> None:
    """openOrder: 127 fields for a plain order; both decoders read every field of it."""
    fields = msg.open_order(_view())
    assert len(fields_at(fields, 178)) == 127
    (args,) = decode_ib_async(fields).named("openOrder")
    order_id, contract, order, state = args
    assert order_id == 7
    assert contract.symbol == "AAPL"
    assert (order.clientId, order.permId, order.orderRef) == (3, 123456, "sma:42")
    assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice) == (
        "BUY",
        100.0,
        "LMT",
        229.5,
    )
    assert order.auxPrice == UNSET_DOUBLE
    assert state.status == "Submitted"
    (api_args,) = decode_ibapi(fields).named("openOrder")
    assert api_args[2].permId == 123456
    assert api_args[3].status == "Submitted"


def test_what_if_open_order_carries_a_numeric_margin_change() -> None:
    """A whatIf answer has numeric margin fields (ib_async resolves whatIfOrderAsync on them)."""
    view = _view(
        what_if=True,
        init_margin_change=11475.0,
        maint_margin_change=5737.5,
        equity_with_loan=1e6,
        commission=1.0,
        status="PreSubmitted",
    )
    (args,) = decode_ib_async(msg.open_order(view)).named("openOrder")
    order, state = args[2], args[3]
    assert order.whatIf
    assert float(state.initMarginChange) == 11475.0
    assert state.commission == 1.0


def test_order_status_exec_and_commission_decode() -> None:
    """orderStatus echoes the client id; execDetails and commissionReport (exactly 8) decode."""
    status = msg.order_status(
        order_id=7,
        status="Filled",
        filled=100,
        remaining=0,
        avg_fill_price=229.52,
        perm_id=123456,
        last_fill_price=229.52,
        client_id=3,
    )
    assert decode_ib_async(status).named("orderStatus")[0][:3] == (7, "Filled", 100.0)
    assert decode_ibapi(status).named("orderStatus")[0][8] == 3
    execution = msg.exec_details(
        req_id=-1,
        order_id=7,
        client_id=3,
        perm_id=123456,
        security=JPM,
        exec_id="0000e0d5.65f3a2b1.01.01",
        time="20260302 10:00:01 US/Eastern",
        account="DU1234567",
        exchange="NYSE",
        side="BOT",
        shares=100,
        price=210.02,
        cum_qty=100,
        avg_price=210.02,
        order_ref="sma:42",
        last_liquidity=2,
    )
    ((req_id, contract, ex),) = decode_ib_async(execution).named("execDetails")
    assert req_id == -1
    assert (contract.symbol, ex.side, ex.shares, ex.price, ex.clientId) == (
        "JPM",
        "BOT",
        100,
        210.02,
        3,
    )
    assert ex.time.tzinfo is not None
    assert decode_ibapi(execution).named("execDetails")[0][2].execId == "0000e0d5.65f3a2b1.01.01"
    report = msg.commission_report("0000e0d5.65f3a2b1.01.01", 1.0, "USD", None)
    assert len(report) == 8
    (ib_report,) = decode_ib_async(report).named("commissionReport")
    assert (ib_report[0].commission, ib_report[0].realizedPNL) == (1.0, UNSET_DOUBLE)
    assert decode_ibapi(report).named("commissionAndFeesReport")


def test_completed_order_decodes_in_both_clients() -> None:
    """completedOrder (no order id) decodes in both clients with status and completion time."""
    view = _view(
        status="Filled",
        filled=100.0,
        completed_time="20260302 10:00:01 US/Eastern",
        completed_status="Filled",
    )
    fields = msg.completed_order(view)
    (args,) = decode_ib_async(fields).named("completedOrder")
    contract, order, state = args
    assert (contract.symbol, order.permId, state.status, state.completedStatus) == (
        "AAPL",
        123456,
        "Filled",
        "Filled",
    )
    assert order.filledQuantity == 100
    (api_args,) = decode_ibapi(fields).named("completedOrder")
    assert api_args[2].completedTime == "20260302 10:00:01 US/Eastern"
    assert decode_ib_async(msg.completed_orders_end()).named("completedOrdersEnd") == [()]


def test_account_messages_decode_with_exact_counts() -> None:
    """position (16), portfolioValue (20), positionMulti (18) and account values decode."""
    position = msg.position("DU1", AAPL, 100, 229.5)
    assert len(position) == 16
    assert decode_ib_async(position).named("position")[0][2:] == (100.0, 229.5)
    assert decode_ibapi(position).named("position")[0][2] == Decimal(100)
    portfolio = msg.portfolio_value(
        security=AAPL,
        quantity=100,
        market_price=230.0,
        market_value=23000.0,
        avg_cost=229.5,
        unrealized_pnl=50.0,
        realized_pnl=0.0,
        account="DU1",
    )
    assert len(portfolio) == 20
    assert decode_ib_async(portfolio).named("updatePortfolio")[0][1:4] == (100.0, 230.0, 23000.0)
    assert decode_ibapi(portfolio).named("updatePortfolio")[0][0].primaryExchange == "NASDAQ"
    multi = msg.position_multi(
        2, account="DU1", model_code="", security=AAPL, quantity=100, avg_cost=229.5
    )
    assert len(multi) == 18
    assert decode_ib_async(multi).named("positionMulti")[0][0] == 2
    value = msg.account_value("NetLiquidation", "1000000.00", "USD", "DU1")
    assert decode_ib_async(value).named("updateAccountValue") == [
        ("NetLiquidation", "1000000.00", "USD", "DU1")
    ]
    assert decode_ibapi(value).named("updateAccountValue")
    assert decode_ibapi(msg.account_update_time("10:00")).named("updateAccountTime") == [("10:00",)]
    assert decode_ibapi(msg.account_download_end("DU1")).named("accountDownloadEnd") == [("DU1",)]
    multi_value = msg.account_update_multi(
        2, account="DU1", model_code="", key="k", value="v", currency="USD"
    )
    assert decode_ibapi(multi_value).named("accountUpdateMulti") == [
        (2, "DU1", "", "k", "v", "USD")
    ]
    assert decode_ib_async(msg.account_update_multi_end(2)).named("accountUpdateMultiEnd") == [(2,)]
    summary = msg.account_summary(3, "DU1", "NetLiquidation", "1.00", "USD")
    assert decode_ibapi(summary).named("accountSummary") == [
        (3, "DU1", "NetLiquidation", "1.00", "USD")
    ]
    assert decode_ibapi(msg.account_summary_end(3)).named("accountSummaryEnd") == [(3,)]
    assert decode_ibapi(msg.position_end()).named("positionEnd") == [()]
    assert decode_ibapi(msg.open_order_end()).named("openOrderEnd") == [()]
    assert decode_ibapi(msg.exec_details_end(4)).named("execDetailsEnd") == [(4,)]
    assert decode_ib_async(msg.position_multi_end(2)).named("positionMultiEnd") == [(2,)]
    rule = decode_ib_async(msg.market_rule(26, [(0.0, 0.01)])).named("marketRule")
    assert rule[0][0] == 26
    assert rule[0][1][0].increment == 0.01
