"""The IB adapter: the only package that imports ib_async; everything it hands out is ibbot's own.

- :class:`IBConnection` (``connection``): one resilient connection, readiness, reconnects, status.
- :class:`IBRequests` (``requests``): paced, timed-out, translated one-shot requests.
- :class:`IBCollector` (``collector``): the watchlist's contracts, :class:`MarketDataStreams`
  (``market_data``) and :class:`FundamentalsRefresher` (``fundamentals_refresh``).
- :class:`Backfill` (``backfill``): resumable history, only what the store lacks.
- :class:`IBFundamentalsSource` (``fundamentals_source``): IB as a source of ``ibbot.fundamentals``.
- :class:`OrderExecutor` (``executor``): orders in, honest results and fills out.
- ``fundamentals``: the report parsers; ``errors``: IB's error codes; ``conversions``: ib_async
  objects to ibbot models and back; ``commands``: ``ibbot backfill`` and ``ibbot check``.

Names are imported on first use, so the CLI (which imports ``ibbot.broker.commands`` on every
invocation) does not load ib_async for ``--help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibbot.broker.backfill import Backfill, BackfillReport
    from ibbot.broker.collector import CollectorConfig, IBCollector
    from ibbot.broker.connection import ConnectionConfig, IBConnection
    from ibbot.broker.errors import IB_ERRORS, ErrorCategory, IBError
    from ibbot.broker.executor import ExecutorConfig, OrderExecutor, PlacedOrder
    from ibbot.broker.fundamentals import (
        parse_financial_statements,
        parse_financial_summary,
        parse_report_snapshot,
    )
    from ibbot.broker.fundamentals_refresh import FundamentalsRefresher, RefreshConfig
    from ibbot.broker.fundamentals_source import IBFundamentalsSource
    from ibbot.broker.market_data import MarketDataStreams, StreamConfig
    from ibbot.broker.requests import IBRequests, RequestPolicy, safe_pacing_rules

__all__ = [
    "IB_ERRORS",
    "Backfill",
    "BackfillReport",
    "CollectorConfig",
    "ConnectionConfig",
    "ErrorCategory",
    "ExecutorConfig",
    "FundamentalsRefresher",
    "IBCollector",
    "IBConnection",
    "IBError",
    "IBFundamentalsSource",
    "IBRequests",
    "MarketDataStreams",
    "OrderExecutor",
    "PlacedOrder",
    "RefreshConfig",
    "RequestPolicy",
    "StreamConfig",
    "parse_financial_statements",
    "parse_financial_summary",
    "parse_report_snapshot",
    "safe_pacing_rules",
]

_HOMES = {
    "Backfill": "backfill",
    "BackfillReport": "backfill",
    "CollectorConfig": "collector",
    "ConnectionConfig": "connection",
    "ErrorCategory": "errors",
    "ExecutorConfig": "executor",
    "FundamentalsRefresher": "fundamentals_refresh",
    "IBCollector": "collector",
    "IBConnection": "connection",
    "IBError": "errors",
    "IBFundamentalsSource": "fundamentals_source",
    "IBRequests": "requests",
    "IB_ERRORS": "errors",
    "MarketDataStreams": "market_data",
    "OrderExecutor": "executor",
    "PlacedOrder": "executor",
    "RefreshConfig": "fundamentals_refresh",
    "RequestPolicy": "requests",
    "StreamConfig": "market_data",
    "parse_financial_statements": "fundamentals",
    "parse_financial_summary": "fundamentals",
    "parse_report_snapshot": "fundamentals",
    "safe_pacing_rules": "requests",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
