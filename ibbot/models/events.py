"""The event envelope routed by the bus and stored by day."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ibbot.clock import ensure_utc, utc_now
from ibbot.models.fundamentals import IB_SOURCE, REPORT_SNAPSHOT, FundamentalData
from ibbot.models.market import ContractInfo, PriceBar, Tick
from ibbot.models.orders import Fill, OrderResult, Position
from ibbot.models.strategy import Decision
from ibbot.models.system import ConnectionStatus, ErrorInfo

__all__ = ["Event", "EventType", "Payload", "fundamentals_event_type"]


class EventType(StrEnum):
    """Kinds of event. String-valued, so ``subscribe(["price_bar"])`` works as in the user's plan."""

    PRICE_BAR = "price_bar"
    TICK = "tick"
    FUNDAMENTAL_DATA = "fundamental_data"
    FINANCIAL_STATEMENTS = "financial_statements"
    CONTRACT_INFO = "contract_info"
    DECISION = "decision"
    ORDER_STATUS = "order_status"
    FILL = "fill"
    POSITION = "position"
    CONNECTION = "connection"
    ERROR = "error"


def fundamentals_event_type(record: FundamentalData) -> EventType:
    """The event type live trading publishes ``record`` as; replays deliver stored records the same way.

    IB's statement reports (ReportsFinStatements, and every IB report but the snapshot) are
    FINANCIAL_STATEMENTS (the broker's fundamentals refresher publishes them so); IB's ReportSnapshot
    and the records of every other source (the fundamentals service: SEC...) are FUNDAMENTAL_DATA.
    A strategy subscribed to FUNDAMENTAL_DATA therefore never sees a statements record replace its
    snapshot, live or in a backtest.
    """
    if record.source == IB_SOURCE and record.report_type != REPORT_SNAPSHOT:
        return EventType.FINANCIAL_STATEMENTS
    return EventType.FUNDAMENTAL_DATA


Payload = (
    PriceBar
    | Tick
    | FundamentalData
    | ContractInfo
    | Decision
    | OrderResult
    | Fill
    | Position
    | ConnectionStatus
    | ErrorInfo
    | Mapping[str, Any]
)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, for one symbol (or the whole system when ``symbol`` is None).

    ``timestamp`` is when it happened in market time (a bar's start, a fill's time); ``ingested_at``
    is when ibbot received it. Strategies read time from events, never from a clock of their own.
    """

    type: EventType
    symbol: str | None
    timestamp: datetime
    payload: Payload
    source: str = "ibbot"
    ingested_at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", EventType(self.type))
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        object.__setattr__(self, "ingested_at", ensure_utc(self.ingested_at, field="ingested_at"))
