"""Notifications: fills, rejections, risk blocks, the kill switch, disabled strategies, a
disconnect that lasts and the reconnect after it, and a daily summary, through apprise.

apprise (a maintained library of some 100 services: ntfy, Telegram, Slack, Discord, e-mail, plain
webhooks...) is configured by URLs: ``notify.urls`` (a secret, from ``.env`` or the environment)
and the lines of ``notify.urls_file`` (a Docker secret, say). They are never logged: only the
services' names are, and the log redactor masks each URL.

Nothing here can delay trading. :class:`Notifier` hears of events through its own bus
subscription (which drops its oldest events when full, so the bus never waits for it) and from
the lifecycle log, and only queues a message: ``put_nowait`` into a bounded queue
(``notify.queue_size``). Overflow policy: when the queue is full the new message is dropped,
counted and logged. One sender task takes the messages in order, at most
``notify.max_per_minute`` (a token bucket; a burst waits in the queue), and hands each to apprise
in a thread of its own (apprise's HTTP calls block), bounded by ``notify.timeout``; a receiver that
hangs holds up the next message, never the event loop. Repeats are held back: one risk block per
strategy and symbol, one rejection per strategy, symbol and code, every ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import structlog

from ibbot.errors import IbbotError
from ibbot.models import (
    ConnectionState,
    ConnectionStatus,
    EventType,
    Fill,
    OrderResult,
    OrderStatus,
)
from ibbot.pacing import TokenBucket
from ibbot.safeload import read_limited

if TYPE_CHECKING:
    from collections.abc import Callable

    from ibbot.clock import Clock
    from ibbot.models import Event
    from ibbot.settings import NotifySettings

__all__ = ["NOTIFY_EVENTS", "Notification", "Notifier"]

log = structlog.get_logger(__name__)

NOTIFY_EVENTS: Final = (
    EventType.DECISION,
    EventType.ORDER_STATUS,
    EventType.FILL,
    EventType.CONNECTION,
)
"""The bus events the notifier follows."""

_REPEAT_SECONDS: Final = 600.0
_TICK: Final = 0.5  # seconds between checks of a lasting disconnect and of the summary's time
_MARKET_ZONE: Final = ZoneInfo("America/New_York")
_URLS_FILE_BYTES: Final = 65_536
_LOG_DROPS_EVERY: Final = 100


@dataclass(frozen=True, slots=True)
class Notification:
    """One message: its kind (a ``notify.events`` value), title and body."""

    kind: str
    title: str
    body: str
    level: str = "info"  # apprise's notify type: info, success, warning, failure


class Notifier:
    """Queues the notifications of the module docstring and sends them with apprise.

    ``summary`` gives the day's figures for the daily summary (``GET /status``'s state);
    ``market`` is the market clock (the summary's time of day), ``wall`` paces and times.
    """

    def __init__(
        self,
        settings: NotifySettings,
        *,
        market: Clock,
        wall: Clock,
        summary: Callable[[], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._kinds = frozenset(settings.events)
        self._market = market
        self._wall = wall
        self._summary = summary
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(settings.queue_size)
        self._bucket = TokenBucket(settings.max_per_minute / 60.0, settings.max_per_minute, wall)
        self._repeats: dict[tuple[str, ...], float] = {}
        self._accepting = False
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._closing = False
        self._down_since: float | None = None
        self._down_told = False
        self._summary_day: date | None = None
        at = settings.daily_summary_at
        self._summary_at = None if at is None else time.fromisoformat(at)

    # --- intake (never waits) ---------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        """The bus callback: queue what the event is worth telling."""
        payload = event.payload
        if isinstance(payload, Fill):
            self._fill(payload)
        elif isinstance(payload, OrderResult):
            if payload.status is OrderStatus.REJECTED:
                self._rejected(payload)
        elif event.type is EventType.DECISION and isinstance(payload, dict):
            if payload.get("outcome") == "blocked":
                self._blocked(payload)
        elif isinstance(payload, ConnectionStatus):
            self._connection(payload.state)

    def on_lifecycle(self, record: dict[str, Any]) -> None:
        """A lifecycle listener: the kill switch and disabled strategies."""
        event = record.get("event")
        by = f" (by {record['by']})" if record.get("by") else ""
        if event == "app.kill_switch_engaged":
            reason = record.get("reason") or "no reason given"
            self.put(
                Notification(
                    "kill_switch",
                    "ibbot: kill switch ENGAGED",
                    f"No new order is sent: {reason}{by}.",
                    "failure",
                )
            )
        elif event == "app.kill_switch_released":
            self.put(
                Notification(
                    "kill_switch",
                    "ibbot: kill switch released",
                    f"Orders may be sent again{by}.",
                    "success",
                )
            )
        elif event == "app.strategy_disabled":
            strategy = record.get("strategy", "?")
            self.put(
                Notification(
                    "strategy_disabled",
                    f"ibbot: strategy {strategy} disabled",
                    f"{record.get('reason', '')}{by}".strip(),
                    "warning",
                )
            )

    def put(self, note: Notification) -> bool:
        """Queue ``note`` if its kind is wanted; False when it was dropped (queue full)."""
        if not self._accepting or note.kind not in self._kinds:
            return False
        try:
            self._queue.put_nowait(note)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped % _LOG_DROPS_EVERY == 1:
                log.warning(
                    "notify.dropped",
                    kind=note.kind,
                    dropped=self.dropped,
                    reason=f"{self._queue.maxsize} notifications already wait",
                )
            return False
        return True

    def _fill(self, fill: Fill) -> None:
        verb = "bought" if fill.side.value == "BUY" else "sold"
        commission = "" if fill.commission is None else f", commission {fill.commission:,.2f}"
        self.put(
            Notification(
                "fill",
                f"ibbot: {fill.side.value} {fill.quantity:g} {fill.symbol} @ {fill.price:,.2f}",
                f"{fill.strategy_name or 'unattributed'} {verb} {fill.quantity:g} {fill.symbol} "
                f"at {fill.price:,.4f}{commission} (execution {fill.exec_id}).",
                "success",
            )
        )

    def _rejected(self, result: OrderResult) -> None:
        code = "none" if result.error_code is None else str(result.error_code)
        if self._repeated(("rejection", result.strategy_name, result.symbol, code)):
            return
        self.put(
            Notification(
                "rejection",
                f"ibbot: order rejected ({result.symbol}, code {code})",
                f"{result.strategy_name or 'an'} order {result.order_id} for {result.symbol} was "
                f"rejected: {result.message or 'no reason given'}.",
                "failure",
            )
        )

    def _blocked(self, payload: dict[str, Any]) -> None:
        decision = payload.get("decision")
        strategy = str(getattr(decision, "strategy_name", "") or "?")
        symbol = str(getattr(decision, "symbol", "") or "?")
        rule = str(payload.get("rule") or "risk")
        # one per strategy and symbol: a block that changes rule (the kill switch) is the same news
        if self._repeated(("risk_block", strategy, symbol)):
            return
        self.put(
            Notification(
                "risk_block",
                f"ibbot: {strategy} {symbol} blocked by {rule}",
                f"{payload.get('detail') or 'blocked by the risk gate'} "
                f"(further blocks like it are not told for {_REPEAT_SECONDS / 60:g} minutes).",
                "warning",
            )
        )

    def closing(self) -> None:
        """The service is stopping: its own disconnect is not an outage to tell."""
        self._closing = True

    def _connection(self, state: ConnectionState) -> None:
        # The run starts connected (the notifier hears of changes after the first connect).
        if state is ConnectionState.DISCONNECTED:
            if self._down_since is None and not self._closing:
                self._down_since = self._wall.monotonic()
                self._down_told = False
            return
        if state is not ConnectionState.CONNECTED or self._down_since is None:
            return
        lasted = self._wall.monotonic() - self._down_since
        self._down_since = None
        if self._down_told:
            self.put(
                Notification(
                    "reconnect",
                    "ibbot: reconnected to the gateway",
                    f"Back after {lasted:,.0f} s disconnected.",
                    "success",
                )
            )

    def _repeated(self, key: tuple[str, ...]) -> bool:
        """True when a note with ``key`` went out within the repeat window (else remember it)."""
        now = self._wall.monotonic()
        last = self._repeats.get(key)
        if last is not None and now - last < _REPEAT_SECONDS:
            return True
        self._repeats[key] = now
        return False

    # --- sending ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Load the URLs, then send until cancelled (nothing at all when there are none)."""
        try:
            urls = await asyncio.to_thread(self._urls)
        except IbbotError as exc:
            log.error("notify.off", reason=str(exc))  # noqa: TRY400 - a settings problem, said
            return
        if not urls:
            log.info("notify.off", reason="no notify.urls and no notify.urls_file")
            return
        try:
            sender = await asyncio.to_thread(_apprise, urls)
        except Exception as exc:  # noqa: BLE001 - notifications must never take the service down
            log.error("notify.off", reason=f"apprise failed to start: {type(exc).__name__}: {exc}")  # noqa: TRY400
            return
        if sender is None:
            log.error("notify.off", reason="no notify URL is one apprise knows")
            return
        log.info(
            "notify.ready",
            services=[service.service_name for service in sender],
            events=sorted(self._kinds),
        )
        self._skip_past_summary()
        self._accepting = True
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ibbot-notify")
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._send_all(sender, executor), name="ibbot-notify-send")
                tasks.create_task(self._watch(), name="ibbot-notify-watch")
        finally:
            self._accepting = False
            executor.shutdown(wait=False, cancel_futures=True)

    def _urls(self) -> list[str]:
        urls = list(_split(self._settings.urls))
        path = self._settings.urls_file
        if path is not None:
            try:
                text = read_limited(path, max_bytes=_URLS_FILE_BYTES).decode("utf-8")
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise IbbotError(f"cannot read notify.urls_file {path}: {exc}") from exc
            for line in text.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    urls.extend(_split(line))
        return urls

    async def _send_all(self, sender: Any, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._settings.timeout
        while True:
            note = await self._queue.get()
            await self._bucket.acquire()
            job = loop.run_in_executor(executor, _send, sender, note, timeout)
            ok = False
            try:
                async with asyncio.timeout(timeout + 1.0):
                    ok = await asyncio.shield(job)
            except TimeoutError:
                log.warning("notify.timeout", kind=note.kind, seconds=timeout)
                # the next message waits for this one's thread (apprise's own timeout ends it)
                with contextlib.suppress(Exception):
                    await job
            except Exception as exc:  # noqa: BLE001 - one failed message must not stop the rest
                log.warning("notify.failed", kind=note.kind, error=f"{type(exc).__name__}: {exc}")
            if ok:
                self.sent += 1
                log.debug("notify.sent", kind=note.kind)
            else:
                self.failed += 1
                log.warning("notify.not_delivered", kind=note.kind, failed=self.failed)

    async def _watch(self) -> None:
        while True:
            await self._wall.sleep(_TICK)
            self.check()

    def check(self) -> None:
        """Tell a disconnect once it has lasted; send the daily summary once its time has come."""
        down = self._down_since
        if down is not None and not self._down_told and not self._closing:
            lasted = self._wall.monotonic() - down
            if lasted >= self._settings.disconnect_after:
                self._down_told = True
                self.put(
                    Notification(
                        "disconnect",
                        "ibbot: disconnected from the gateway",
                        f"No connection for {lasted:,.0f} s; ibbot keeps reconnecting. Orders "
                        "cannot be sent meanwhile.",
                        "failure",
                    )
                )
        if self._summary_at is None:
            return
        now = self._market.now().astimezone(_MARKET_ZONE)
        if (
            now.timetz().replace(tzinfo=None) >= self._summary_at
            and self._summary_day != now.date()
        ):
            self._summary_day = now.date()
            self.put(self._daily_summary(now))

    def _skip_past_summary(self) -> None:
        """A start after today's summary time waits for tomorrow's."""
        if self._summary_at is None:
            return
        now = self._market.now().astimezone(_MARKET_ZONE)
        if now.timetz().replace(tzinfo=None) >= self._summary_at:
            self._summary_day = now.date()

    def _daily_summary(self, now: datetime) -> Notification:
        state = self._summary()
        total = state.get("pnl", {}).get("total", {})
        stats = state.get("stats", {})
        positions = state.get("book", {}).get("positions", [])
        held = ", ".join(f"{p['strategy']} {p['symbol']} {p['quantity']:+g}" for p in positions)
        equity = state.get("account", {}).get("net_liquidation")
        lines = [
            f"Realized today {total.get('realized_today', 0.0):,.2f}, unrealized "
            f"{total.get('unrealized', 0.0):,.2f}, today {total.get('today', 0.0):,.2f}.",
            f"Decisions {stats.get('decisions', 0)}, orders {stats.get('sent', 0)}, fills "
            f"{stats.get('fills', 0)}, blocked {stats.get('blocked', 0)}.",
            f"Positions: {held or 'flat'}.",
        ]
        if equity is not None:
            lines.append(f"Net liquidation {equity:,.2f}.")
        return Notification("daily_summary", f"ibbot: summary of {now.date()}", "\n".join(lines))


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def _apprise(urls: list[str]) -> Any:
    """An ``Apprise`` with ``urls`` (imported here: it is heavy), or None when none is valid."""
    import apprise  # noqa: PLC0415 - only runs with notifications configured

    # apprise's own log lines may carry a URL's secrets; ibbot logs each failure itself.
    logging.getLogger("apprise").setLevel(logging.ERROR)
    sender = apprise.Apprise()
    for url in urls:
        if not sender.add(url):
            log.error("notify.bad_url", detail="apprise does not know a notify URL (not shown)")
    return sender if len(sender) else None


def _send(sender: Any, note: Notification, timeout: float) -> bool:
    """In the notifier's thread: one message to every service."""
    return bool(
        sender.notify(body=note.body, title=note.title, notify_type=note.level, timeout=timeout)
    )
