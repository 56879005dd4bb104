"""Prometheus metrics of a run (``GET /metrics``), kept off the hot path.

Two sources, neither of which adds work to placing an order:

- counters the parts keep anyway, read when Prometheus scrapes (:class:`_ScrapeCollector`): events
  per type (the bus counts them), each subscriber's queue depth and drops, IB pacing waits and
  violations, strategy failures and states, open orders, the account's equity and the book's P&L
  (from the same view as ``GET /status``);
- events that flow on the bus anyway, followed by one subscription whose queue drops its oldest
  when full (:meth:`ServiceMetrics.observe`): decisions by outcome, order statuses, rejections by
  IB's error code, fills, reconnects and time disconnected, streams refused for pacing (the
  requests count their own violations), and the latencies from a decision to
  IB's acknowledgement of its order (the first ``Submitted``, or a fill) and to its first fill.
  A latency starts when the trader took the decision up (``decided_at`` in the decision event)
  and ends when the status or fill reached the bus's subscribers: what ibbot sees, audit included.

Each run has its own registry (the process-wide default would mix runs in one process, as tests
make them). Labels are bounded: strategies and symbols come from the settings, codes from IB.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ibbot.broker.errors import is_pacing_violation
from ibbot.models import (
    ConnectionState,
    ConnectionStatus,
    ErrorInfo,
    EventType,
    Fill,
    OrderResult,
    OrderStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from prometheus_client.metrics_core import Metric

    from ibbot.bus import EventBus
    from ibbot.clock import Clock
    from ibbot.live.runner import StrategyRunner
    from ibbot.models import Event
    from ibbot.pacing import IBPacer

__all__ = ["METRIC_EVENTS", "METRIC_NAMES", "ServiceMetrics"]

METRIC_EVENTS: Final = (
    EventType.DECISION,
    EventType.ORDER_STATUS,
    EventType.FILL,
    EventType.CONNECTION,
    EventType.ERROR,
)
"""The bus events the metrics follow."""

METRIC_NAMES: Final = (
    "ibbot_events",
    "ibbot_bus_queue_depth",
    "ibbot_bus_dropped",
    "ibbot_decisions",
    "ibbot_orders",
    "ibbot_open_orders",
    "ibbot_decision_to_ack_seconds",
    "ibbot_decision_to_fill_seconds",
    "ibbot_fills",
    "ibbot_order_rejections",
    "ibbot_pacing_waits",
    "ibbot_pacing_wait_seconds",
    "ibbot_pacing_violations",
    "ibbot_reconnects",
    "ibbot_disconnected_seconds",
    "ibbot_connected",
    "ibbot_strategy_failures",
    "ibbot_strategy_state",
    "ibbot_equity_dollars",
    "ibbot_pnl_realized_dollars",
    "ibbot_pnl_unrealized_dollars",
    "ibbot_pnl_today_dollars",
)
"""Every metric family, by the name the parser reports (counters without ``_total``)."""

_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_ACKED: Final = frozenset({OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED})
_TRACKED: Final = 10_000  # orders whose latencies are still open; the oldest are forgotten


class ServiceMetrics:
    """The run's metrics: a registry, the bus callback :meth:`observe`, and the text to serve.

    ``pacing_violations`` reads the requests' count of IB's pacing errors; ``strategies`` the
    runners; ``status`` the service's JSON state (account and P&L); ``connected`` whether the
    connection is up; ``wall`` times the latencies and the outages.
    """

    def __init__(
        self,
        *,
        bus: EventBus,
        pacer: IBPacer,
        pacing_violations: Callable[[], int],
        strategies: Callable[[], Mapping[str, StrategyRunner]],
        open_orders: Callable[[], int],
        status: Callable[[], dict[str, Any]],
        connected: Callable[[], bool],
        wall: Clock,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._wall = wall
        registry = self.registry
        self._decisions = Counter(
            "ibbot_decisions",
            "Decisions taken, by strategy and outcome (sent, blocked, no_order, not_traded).",
            ["strategy", "outcome"],
            registry=registry,
        )
        self._orders = Counter(
            "ibbot_orders",
            "Order status changes reported, by the new status.",
            ["status"],
            registry=registry,
        )
        self._rejections = Counter(
            "ibbot_order_rejections",
            "Orders rejected, by IB's error code ('none' when IB gave no code).",
            ["code"],
            registry=registry,
        )
        self._fills = Counter(
            "ibbot_fills",
            "Executions, by strategy and side.",
            ["strategy", "side"],
            registry=registry,
        )
        self._to_ack = Histogram(
            "ibbot_decision_to_ack_seconds",
            "Seconds from a decision to IB's acknowledgement of its order (or its first fill).",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._to_fill = Histogram(
            "ibbot_decision_to_fill_seconds",
            "Seconds from a decision to its order's first fill.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._reconnects = Counter(
            "ibbot_reconnects", "Reconnections to the gateway after a drop.", registry=registry
        )
        self._outages = _Outages(wall)
        self._stream_pacing = 0  # streams IB refused for pacing (requests count their own)
        # order_ref -> when the trader took its decision up, or when an answer came first
        self._decided: OrderedDict[str, float] = OrderedDict()
        self._early_ack: OrderedDict[str, float] = OrderedDict()
        self._early_fill: OrderedDict[str, float] = OrderedDict()
        self._acked: OrderedDict[str, None] = OrderedDict()
        self._filled: OrderedDict[str, None] = OrderedDict()
        registry.register(
            _ScrapeCollector(
                bus=bus,
                pacer=pacer,
                pacing_violations=lambda: pacing_violations() + self._stream_pacing,
                strategies=strategies,
                open_orders=open_orders,
                status=status,
                connected=connected,
                outages=self._outages,
            )
        )

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    def observe(self, event: Event) -> None:
        """The bus callback: count the event, and close the latencies it ends."""
        payload = event.payload
        now = self._wall.monotonic()
        if event.type is EventType.DECISION and isinstance(payload, dict):
            self._decision(payload, now)
        elif isinstance(payload, OrderResult):
            self._status(payload, now)
        elif isinstance(payload, Fill):
            self._fills.labels(payload.strategy_name or "unattributed", payload.side.value).inc()
            ref = _ref(payload.strategy_name, payload.decision_id)
            if ref:
                self._answered(ref, now, self._early_fill, self._filled, self._to_fill)
                self._answered(ref, now, self._early_ack, self._acked, self._to_ack)
        elif isinstance(payload, ConnectionStatus) and self._outages.change(payload.state):
            self._reconnects.inc()
        elif (
            isinstance(payload, ErrorInfo)
            and payload.code is not None
            and is_pacing_violation(payload.code, payload.message)
        ):
            self._stream_pacing += 1

    def _decision(self, payload: Mapping[str, Any], now: float) -> None:
        decision = payload.get("decision")
        strategy = getattr(decision, "strategy_name", "") or "unknown"
        self._decisions.labels(strategy, str(payload.get("outcome"))).inc()
        ref = payload.get("order_ref")
        decided = payload.get("decided_at")
        if payload.get("outcome") != "sent" or not isinstance(ref, str):
            return
        if not isinstance(decided, float):
            return
        for early, done, histogram in (
            (self._early_ack, self._acked, self._to_ack),
            (self._early_fill, self._filled, self._to_fill),
        ):
            answered = early.pop(ref, None)
            if answered is not None:
                histogram.observe(max(answered - decided, 0.0))
                _remember(done, ref)
        if ref not in self._acked or ref not in self._filled:
            _remember(self._decided, ref, decided)

    def _status(self, result: OrderResult, now: float) -> None:
        self._orders.labels(result.status.value).inc()
        if result.status is OrderStatus.REJECTED:
            code = str(result.error_code) if result.error_code is not None else "none"
            self._rejections.labels(code).inc()
        ref = _ref(result.strategy_name, result.decision_id)
        if ref and result.status in _ACKED:
            self._answered(ref, now, self._early_ack, self._acked, self._to_ack)

    def _answered(
        self,
        ref: str,
        now: float,
        early: OrderedDict[str, float],
        done: OrderedDict[str, None],
        histogram: Histogram,
    ) -> None:
        """The first answer of its kind for ``ref``: observed, or kept for its decision."""
        if ref in done:
            return
        decided = self._decided.get(ref)
        if decided is None:
            if ref not in early:
                _remember(early, ref, now)
            return
        histogram.observe(max(now - decided, 0.0))
        _remember(done, ref)
        if ref in self._acked and ref in self._filled:
            self._decided.pop(ref, None)


class _Outages:
    """Reconnections and the time spent disconnected, from the connection's state changes."""

    def __init__(self, wall: Clock) -> None:
        self._wall = wall
        self._down_since: float | None = None
        self.seconds = 0.0

    def change(self, state: ConnectionState) -> bool:
        """Follow a state change; True when it is a reconnection."""
        # The run starts connected (the metrics begin after the first connect).
        if state is ConnectionState.DISCONNECTED:
            if self._down_since is None:
                self._down_since = self._wall.monotonic()
            return False
        if state is not ConnectionState.CONNECTED or self._down_since is None:
            return False
        self.seconds += self._wall.monotonic() - self._down_since
        self._down_since = None
        return True

    def total(self) -> float:
        """Seconds disconnected so far, the outage under way included."""
        ongoing = 0.0 if self._down_since is None else self._wall.monotonic() - self._down_since
        return self.seconds + ongoing


class _ScrapeCollector(Collector):
    """The metrics read from the parts when Prometheus scrapes."""

    def __init__(
        self,
        *,
        bus: EventBus,
        pacer: IBPacer,
        pacing_violations: Callable[[], int],
        strategies: Callable[[], Mapping[str, StrategyRunner]],
        open_orders: Callable[[], int],
        status: Callable[[], dict[str, Any]],
        connected: Callable[[], bool],
        outages: _Outages,
    ) -> None:
        self._bus = bus
        self._pacer = pacer
        self._pacing_violations = pacing_violations
        self._strategies = strategies
        self._open_orders = open_orders
        self._status = status
        self._connected = connected
        self._outages = outages

    def collect(self) -> Iterator[Metric]:
        """Every scrape-time family."""
        yield from self._bus_metrics()
        yield from self._pacing_metrics()
        yield from self._strategy_metrics()
        yield from self._money_metrics()
        disconnected = CounterMetricFamily(
            "ibbot_disconnected_seconds", "Seconds spent disconnected from the gateway."
        )
        disconnected.add_metric([], self._outages.total())
        yield disconnected
        yield _gauge("ibbot_connected", "1 while the gateway connection is up.", self._connected())
        yield _gauge(
            "ibbot_open_orders", "Orders working now (brackets count once).", self._open_orders()
        )

    def _bus_metrics(self) -> Iterator[Metric]:
        events = CounterMetricFamily("ibbot_events", "Events published, by type.", labels=["type"])
        for event_type, count in self._bus.published().items():
            events.add_metric([event_type.value], count)
        yield events
        depth = GaugeMetricFamily(
            "ibbot_bus_queue_depth", "Events queued per subscriber.", labels=["subscriber"]
        )
        dropped = CounterMetricFamily(
            "ibbot_bus_dropped",
            "Events a subscriber lost to its overflow policy.",
            labels=["subscriber"],
        )
        for stats in self._bus.stats():
            depth.add_metric([stats.name], stats.pending)
            dropped.add_metric([stats.name], stats.dropped)
        yield depth
        yield dropped

    def _pacing_metrics(self) -> Iterator[Metric]:
        stats = self._pacer.stats()
        waits = CounterMetricFamily(
            "ibbot_pacing_waits", "Requests IB's pacing rules made wait, by rule.", labels=["rule"]
        )
        seconds = CounterMetricFamily(
            "ibbot_pacing_wait_seconds",
            "Seconds requests waited for pacing, by rule.",
            labels=["rule"],
        )
        for rule, count in stats.waits.items():
            waits.add_metric([rule.value], count)
            seconds.add_metric([rule.value], stats.wait_seconds[rule])
        yield waits
        yield seconds
        violations = CounterMetricFamily(
            "ibbot_pacing_violations", "Pacing violations IB reported (codes 100, 162, 420)."
        )
        violations.add_metric([], self._pacing_violations())
        yield violations

    def _strategy_metrics(self) -> Iterator[Metric]:
        failures = CounterMetricFamily(
            "ibbot_strategy_failures", "Events a strategy raised on.", labels=["strategy"]
        )
        states = GaugeMetricFamily(
            "ibbot_strategy_state",
            "1 for the state each strategy is in (running, disabled...).",
            labels=["strategy", "state"],
        )
        for name, runner in self._strategies().items():
            failures.add_metric([name], runner.failures)
            states.add_metric([name, runner.state.value], 1)
        yield failures
        yield states

    def _money_metrics(self) -> Iterator[Metric]:
        status = self._status()
        equity = status.get("account", {}).get("net_liquidation")
        yield _gauge(
            "ibbot_equity_dollars",
            "The account's net liquidation value as IB last reported it (NaN before).",
            float("nan") if equity is None else equity,
        )
        pnl = status.get("pnl", {})
        realized = GaugeMetricFamily(
            "ibbot_pnl_realized_dollars",
            "Realized P&L since the book started, net of commissions.",
            labels=["strategy"],
        )
        unrealized = GaugeMetricFamily(
            "ibbot_pnl_unrealized_dollars",
            "Unrealized P&L at the last prices seen.",
            labels=["strategy"],
        )
        today = GaugeMetricFamily(
            "ibbot_pnl_today_dollars",
            "Today's P&L: realized today plus unrealized now.",
            labels=["strategy"],
        )
        for name, values in pnl.get("strategies", {}).items():
            realized.add_metric([name], values["realized"])
            unrealized.add_metric([name], values["unrealized"])
            today.add_metric([name], values["today"])
        yield realized
        yield unrealized
        yield today


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], float(value))
    return gauge


def _ref(strategy: str, decision_id: str) -> str:
    return f"{strategy}:{decision_id}" if strategy and decision_id else ""


def _remember(table: OrderedDict[str, Any], ref: str, value: Any = None) -> None:
    table[ref] = value
    if len(table) > _TRACKED:
        table.popitem(last=False)
