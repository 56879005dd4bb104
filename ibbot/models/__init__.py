"""ibbot's own data model: everything the parts hand each other, independent of ib_async.

Hot-path values are frozen, slotted dataclasses; timestamps are timezone-aware UTC (naive ones are
refused); states are enums. Every model round-trips through dict/JSON and Arrow
(``ibbot.models.serialization``).
"""

from ibbot.models.events import Event, EventType, Payload, fundamentals_event_type
from ibbot.models.fundamentals import IB_SOURCE, REPORT_SNAPSHOT, FundamentalData
from ibbot.models.market import BarSize, ContractInfo, PriceBar, Tick, WhatToShow
from ibbot.models.orders import (
    Action,
    Fill,
    Order,
    OrderResult,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
    order_price_problem,
    parse_order_ref,
    trailing_problem,
    valuation_price,
)
from ibbot.models.protection import LEG_SEPARATOR, Bracket, OrderLeg, Protection, split_leg
from ibbot.models.serialization import (
    arrow_schema,
    from_arrow,
    from_dict,
    from_json,
    register_model,
    to_arrow,
    to_dict,
    to_json,
)
from ibbot.models.strategy import Decision, LayerResult
from ibbot.models.system import ConnectionState, ConnectionStatus, ErrorInfo

for _model in (
    ContractInfo,
    ConnectionStatus,
    Decision,
    ErrorInfo,
    Event,
    Fill,
    FundamentalData,
    LayerResult,
    Order,
    OrderResult,
    Position,
    PriceBar,
    Protection,
    Tick,
):
    register_model(_model)

__all__ = [
    "IB_SOURCE",
    "LEG_SEPARATOR",
    "REPORT_SNAPSHOT",
    "Action",
    "BarSize",
    "Bracket",
    "ConnectionState",
    "ConnectionStatus",
    "ContractInfo",
    "Decision",
    "ErrorInfo",
    "Event",
    "EventType",
    "Fill",
    "FundamentalData",
    "LayerResult",
    "Order",
    "OrderLeg",
    "OrderResult",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "Payload",
    "Position",
    "PriceBar",
    "Protection",
    "Tick",
    "TimeInForce",
    "WhatToShow",
    "arrow_schema",
    "from_arrow",
    "from_dict",
    "from_json",
    "fundamentals_event_type",
    "order_price_problem",
    "parse_order_ref",
    "register_model",
    "split_leg",
    "to_arrow",
    "to_dict",
    "to_json",
    "trailing_problem",
    "valuation_price",
]
