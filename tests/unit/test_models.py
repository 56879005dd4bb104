"""Models: validation rules and round-trips through dict, JSON and Arrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest

from ibbot.models import (
    Action,
    BarSize,
    ConnectionState,
    ConnectionStatus,
    ContractInfo,
    Decision,
    ErrorInfo,
    Event,
    EventType,
    Fill,
    FundamentalData,
    LayerResult,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PriceBar,
    Tick,
    TimeInForce,
    arrow_schema,
    from_arrow,
    from_dict,
    from_json,
    fundamentals_event_type,
    parse_order_ref,
    to_arrow,
    to_dict,
    to_json,
)

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def _samples() -> list[Any]:
    bar = PriceBar("AAPL", T0, 230.0, 231.5, 229.0, 231.0, 1_200_000, BarSize.MIN_5, 230.4, 812)
    fund = FundamentalData(
        "AAPL",
        T0,
        "Apple Inc.",
        cik="0000320193",
        employees=164_000,
        shares_outstanding=15.0e9,
        market_cap=3.45e12,
        values={"TTMROEPCT": 150.2},
        details={"source_doc": "ReportSnapshot"},
        raw="<ReportSnapshot/>",
    )
    decision = Decision(
        "AAPL",
        Action.BUY,
        0.25,
        0.8,
        "liquidity: ok; momentum: up",
        strategy_name="sma_cross",
        decision_id="d-1",
        timestamp=T0,
        data={"fast": 231.0, "slow": [1, 2]},
    )
    limit_decision = Decision(
        "AAPL",
        Action.BUY,
        0.1,
        1.0,
        "buy the dip",
        strategy_name="sma_cross",
        decision_id="d-2",
        timestamp=T0,
        order_type=OrderType.STOP_LIMIT,
        limit_price=229.5,
        stop_price=230.0,
        time_in_force=TimeInForce.GTC,
    )
    return [
        bar,
        limit_decision,
        Tick("AAPL", T0, bid=230.9, ask=231.1, last=231.0, bid_size=300, ask_size=200, volume=1e6),
        ContractInfo(
            "AAPL", 265598, "APPLE INC", "Technology", "Computers", "Computers", "SMART", "USD"
        ),
        fund,
        decision,
        LayerResult(True, {"market_cap": 3.4e12}, "market cap 3.4T > 10B"),
        Order(
            "sma_cross",
            "AAPL",
            OrderSide.BUY,
            10,
            OrderType.LIMIT,
            limit_price=230.0,
            decision_id="d-1",
            created_at=T0,
        ),
        OrderResult(7, OrderStatus.FILLED, 230.1, 10, perm_id=99, timestamp=T0),
        Fill(
            "0001.01",
            7,
            99,
            "AAPL",
            OrderSide.BUY,
            10,
            230.1,
            T0,
            commission=1.0,
            strategy_name="sma_cross",
        ),
        Position("AAPL", 10, 230.1, strategy_name="sma_cross"),
        ConnectionStatus(ConnectionState.DEGRADED, "farm down", code=2103),
        ErrorInfo("no security definition", code=200, request="qualify", symbol="ZZZZ"),
        Event(EventType.PRICE_BAR, "AAPL", T0, bar, source="ibkr", ingested_at=T0),
        Event(EventType.DECISION, "AAPL", T0, decision, ingested_at=T0),
        Event(
            EventType.CONNECTION,
            None,
            T0,
            {"note": "plain mapping payload", "n": 3},
            ingested_at=T0,
        ),
    ]


@pytest.mark.parametrize("model", _samples(), ids=lambda m: type(m).__name__)
def test_dict_and_json_round_trip(model: Any) -> None:
    """Every model comes back equal from to_dict/from_dict and to_json/from_json."""
    assert from_dict(type(model), to_dict(model)) == model
    assert from_json(type(model), to_json(model)) == model


@pytest.mark.parametrize("model", _samples(), ids=lambda m: type(m).__name__)
def test_arrow_round_trip(model: Any) -> None:
    """Every model comes back equal from an Arrow table with its declared schema."""
    table = to_arrow(type(model), [model, model])
    assert table.schema == arrow_schema(type(model))
    assert from_arrow(type(model), table) == [model, model]


def test_arrow_schema_types() -> None:
    """Timestamps are UTC microseconds, enums strings, optional numbers nullable."""
    schema = arrow_schema(PriceBar)
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("bar_size").type == pa.string()
    assert schema.field("bar_count").type == pa.int64()
    assert schema.field("symbol").type == pa.string()


def test_event_payload_keeps_its_class() -> None:
    """A model payload inside an Event decodes back to the same class, not a dict."""
    event = _samples()[-3]
    decoded = from_json(Event, to_json(event))
    assert isinstance(decoded.payload, PriceBar)


def test_naive_datetimes_are_refused() -> None:
    """A naive timestamp is an error, not a guess."""
    with pytest.raises(ValueError, match="timezone-aware"):
        PriceBar("AAPL", datetime(2026, 1, 5), 1, 1, 1, 1, 0)


def test_aware_datetimes_are_converted_to_utc() -> None:
    """Timestamps in another zone are stored as the same instant in UTC."""
    eastern = timezone(timedelta(hours=-5))
    bar = PriceBar("AAPL", datetime(2026, 1, 5, 9, 30, tzinfo=eastern), 1, 1, 1, 1, 0)
    assert bar.timestamp == T0
    assert bar.timestamp.tzinfo == UTC


def test_strings_are_coerced_to_enums() -> None:
    """The plan's string spellings ("BUY", "MARKET", "1 mins") become our enums."""
    order = Order("s", "AAPL", "buy", 1, "MARKET", time_in_force="gtc")  # type: ignore[arg-type]
    assert order.action is OrderSide.BUY
    assert order.order_type is OrderType.MARKET
    assert order.time_in_force is TimeInForce.GTC
    assert PriceBar("A", T0, 1, 1, 1, 1, 0, "1 mins").bar_size is BarSize.MIN_1  # type: ignore[arg-type]
    assert Decision("A", "HOLD", 0, 0, "").action is Action.HOLD  # type: ignore[arg-type]
    decision = Decision("A", Action.BUY, 0, 0, "", order_type="LIMIT", time_in_force="gtc")  # type: ignore[arg-type]
    assert decision.order_type is OrderType.LIMIT
    assert decision.time_in_force is TimeInForce.GTC


def test_a_decision_is_a_market_day_order_unless_it_says_otherwise() -> None:
    """Decisions written before order terms existed read back as market DAY orders."""
    decision = Decision("A", Action.BUY, 0.1, 1.0, "", timestamp=T0)
    assert (decision.order_type, decision.limit_price, decision.stop_price) == (
        OrderType.MARKET,
        None,
        None,
    )
    assert decision.time_in_force is TimeInForce.DAY
    old = {k: v for k, v in to_dict(decision).items() if k not in _ORDER_TERMS}
    assert from_dict(Decision, old) == decision
    table = to_arrow(Decision, [decision]).drop_columns(list(_ORDER_TERMS))
    assert from_arrow(Decision, table) == [decision]
    assert to_dict(decision) | {"order_type": "MKT", "time_in_force": "DAY"} == to_dict(decision)


_ORDER_TERMS = ("order_type", "limit_price", "stop_price", "time_in_force")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": 0}, "quantity must be positive"),
        ({"symbol": ""}, "symbol must not be empty"),
        ({"order_type": OrderType.LIMIT}, "needs a positive limit_price"),
        ({"order_type": OrderType.STOP}, "needs a positive stop_price"),
        ({"order_type": OrderType.STOP_LIMIT, "stop_price": 1.0}, "needs a positive limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": float("nan")}, "positive limit_price"),
        ({"order_type": OrderType.STOP, "stop_price": -1.0}, "positive stop_price"),
        ({"limit_price": 10.0}, "MKT order takes no limit_price"),
        ({"order_type": OrderType.LIMIT, "limit_price": 1.0, "stop_price": 2.0}, "takes no stop"),
        ({"strategy_name": "a:b"}, "must not contain"),
    ],
)
def test_order_validation(kwargs: dict[str, Any], message: str) -> None:
    """Orders that IB would refuse are refused at construction, with the reason."""
    base: dict[str, Any] = {
        "strategy_name": "s",
        "symbol": "AAPL",
        "action": OrderSide.BUY,
        "quantity": 5,
    }
    with pytest.raises(ValueError, match=message):
        Order(**(base | kwargs))


def test_order_ref_round_trip() -> None:
    """orderRef carries strategy and decision id and parses back."""
    order = Order("value_momentum", "KO", OrderSide.SELL, 3, decision_id="abc-1")
    assert order.order_ref == "value_momentum:abc-1"
    assert parse_order_ref(order.order_ref) == ("value_momentum", "abc-1")
    assert parse_order_ref("manual") == ("manual", "")
    assert order.signed_quantity == -3


@pytest.mark.parametrize(("weight", "confidence"), [(-0.1, 0.5), (1.1, 0.5), (0.5, 1.5), (0.5, -1)])
def test_decision_bounds(weight: float, confidence: float) -> None:
    """Target weight and confidence must lie within 0..1."""
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        Decision("AAPL", Action.BUY, weight, confidence, "")


def test_order_status_terminal() -> None:
    """Only filled, cancelled, rejected and blocked are terminal."""
    terminal = {s for s in OrderStatus if s.is_terminal}
    assert terminal == {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.BLOCKED,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 min", BarSize.MIN_1),
        ("1 mins", BarSize.MIN_1),
        ("5mins", BarSize.MIN_5),
        ("1 hour", BarSize.HOUR_1),
        ("1 hours", BarSize.HOUR_1),
        ("1d", BarSize.DAY_1),
        (" 1  DAY ", BarSize.DAY_1),
        ("5 secs", BarSize.SEC_5),
    ],
)
def test_bar_size_parse(text: str, expected: BarSize) -> None:
    """IB's bar size spellings and common variants are understood."""
    assert BarSize.parse(text) is expected


def test_bar_size_parse_rejects_unknown() -> None:
    """An unknown bar size names the valid ones."""
    with pytest.raises(ValueError, match=r"unknown bar size .7 mins.*.1 min."):
        BarSize.parse("7 mins")


def test_bar_size_seconds() -> None:
    """Bar sizes know their length."""
    assert BarSize.MIN_5.seconds == 300
    assert BarSize.DAY_1.seconds == 86_400
    assert BarSize.HOUR_1.is_intraday
    assert not BarSize.DAY_1.is_intraday
    bar = PriceBar("A", T0, 1, 1, 1, 1, 0, BarSize.MIN_5)
    assert bar.end == T0 + timedelta(minutes=5)


def test_tick_price_prefers_last_then_mid() -> None:
    """A tick's price is the last trade, else the midpoint, else None."""
    assert Tick("A", T0, bid=1.0, ask=3.0, last=2.5).price == 2.5
    assert Tick("A", T0, bid=1.0, ask=3.0).price == 2.0
    assert Tick("A", T0, bid=-1.0, ask=3.0).price is None
    assert Tick("A", T0).mid is None


def test_fill_helpers() -> None:
    """Fills know their signed quantity and notional."""
    fill = Fill("e", 1, 2, "A", OrderSide.SELL, 10, 5.0, T0)
    assert fill.signed_quantity == -10
    assert fill.notional == 50.0


def test_from_dict_missing_required_field() -> None:
    """A record without a required field is refused with the field's name."""
    with pytest.raises(ValueError, match="missing field 'close'"):
        from_dict(
            PriceBar,
            {
                "symbol": "A",
                "timestamp": T0.isoformat(),
                "open": 1,
                "high": 1,
                "low": 1,
                "volume": 0,
            },
        )


def test_from_json_requires_an_object() -> None:
    """JSON that is not an object is refused."""
    with pytest.raises(ValueError, match="expected a JSON object"):
        from_json(PriceBar, "[1, 2]")


def test_fundamental_raw_xml_alias() -> None:
    """FundamentalData.raw_xml is the plan's name for the raw document."""
    fund = FundamentalData("A", T0, "A Corp", raw="<x/>")
    assert fund.raw_xml == "<x/>"
    assert fund.source == "ib"


@pytest.mark.parametrize(
    ("source", "report_type", "expected"),
    [
        ("ib", "ReportSnapshot", EventType.FUNDAMENTAL_DATA),
        ("ib", "ReportsFinStatements", EventType.FINANCIAL_STATEMENTS),
        ("ib", "ReportsFinSummary", EventType.FINANCIAL_STATEMENTS),
        ("sec", "CompanyFacts", EventType.FUNDAMENTAL_DATA),
    ],
)
def test_fundamentals_are_typed_as_live_trading_publishes_them(
    source: str, report_type: str, expected: EventType
) -> None:
    """IB's statement reports are financial_statements; IB's snapshot and other sources are not."""
    record = FundamentalData("AAPL", T0, "Apple", source=source, report_type=report_type)
    assert fundamentals_event_type(record) is expected
