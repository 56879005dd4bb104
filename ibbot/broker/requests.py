"""Every one-shot IB request ibbot makes, paced, timed out and translated.

This is the choke point between ibbot and the Gateway for requests that return an answer: each
waits for the connection, passes :class:`~ibbot.pacing.IBPacer` (so a correct run never breaks a
pacing rule), runs under a timeout, and comes back as ibbot's models or one of ibbot's errors. An
error, a timeout or an empty answer is never turned into an empty result. If IB reports a pacing
violation anyway (100, 162 with the pacing text, 420), the request waits with exponential backoff
and is sent again, a bounded number of times; a dropped connection waits for the reconnect and
sends it again too.
"""

from __future__ import annotations

import random
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, TypeVar

import structlog
from ib_async import RequestError

from ibbot.broker.backoff import Backoff
from ibbot.broker.conversions import (
    contract_for,
    contract_info,
    position_from_ib,
    price_bar,
    stock_contract,
)
from ibbot.broker.errors import (
    FUNDAMENTALS_UNAVAILABLE,
    is_pacing_violation,
    translate_request_error,
)
from ibbot.broker.timing import within
from ibbot.errors import FundamentalsUnavailable, PacingViolation, RequestFailed
from ibbot.models import BarSize, ContractInfo, Position, PriceBar, WhatToShow
from ibbot.pacing import PacingRules

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Collection
    from datetime import datetime

    from ib_async import IB, ContractDetails
    from ib_async import Position as IBPosition

    from ibbot.broker.connection import IBConnection
    from ibbot.pacing import IBPacer
    from ibbot.settings import IbSettings

__all__ = ["NO_DATA", "IBRequests", "RequestPolicy", "safe_pacing_rules"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# The code ibbot gives an empty historical answer: IB itself reports "no data" as 162 ("HMDS query
# returned no data"), so callers handle both the same way (a window with nothing to fetch).
NO_DATA: Final = 162


def safe_pacing_rules(
    *,
    scale: float = 1.0,
    margin: float = 0.5,
    messages_per_second: float = 40.0,
    strict: bool = False,
) -> PacingRules:
    """IB's pacing rules as ibbot's pacer should apply them (on the wall clock).

    - ``scale``: a simulated gateway whose clock runs ``scale`` times faster counts its windows in
      simulated time, so they are that much shorter in wall time (1 for a real Gateway).
    - ``margin`` seconds are added to every window: IB measures when requests arrive, the pacer
      when they leave, and if the first request of a window took longer on the wire than the
      sixty-first, an exact pacer would break the rule by milliseconds. Half a second on a
      ten-minute window costs under 0.1%.
    - ``messages_per_second``: IB allows 50; ib_async queues anything above its own 45 per second,
      and a queue behind the pacer would send requests later than the pacer counted them. 40 keeps
      that queue empty, with room for the few messages that do not pass the pacer (cancels).
    - ``strict``: the small-bar historical rules (60 per 10 minutes, 5 per contract in 2 s) for
      every bar size, as before IB lifted them for bars of 1 minute and more (``ib.strict_pacing``).
    """
    rules = PacingRules().scaled(scale) if scale != 1.0 else PacingRules()
    return replace(
        rules,
        messages_per_second=messages_per_second,
        historical_window=rules.historical_window + margin,
        identical_request_interval=rules.identical_request_interval + margin,
        same_contract_window=rules.same_contract_window + margin,
        fundamentals_window=rules.fundamentals_window + margin,
        realtime_bar_window=rules.realtime_bar_window + margin,
        strict_all_bar_sizes=strict,
    )


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """How long to wait for answers and how to retry.

    ``timeout`` bounds each request once sent; ``pacing_backoff`` spaces retries after a pacing
    violation (IB's historical pacing penalty lasts minutes, hence the long cap) and
    ``pacing_retries`` bounds them; ``reconnect_retries`` bounds re-sends after a dropped socket.
    """

    timeout: float = 30.0
    pacing_backoff: Backoff = field(
        default_factory=lambda: Backoff(initial=5.0, maximum=120.0, jitter=0.25)
    )
    pacing_retries: int = 6
    reconnect_retries: int = 3

    @classmethod
    def from_settings(cls, ib: IbSettings) -> RequestPolicy:
        """The request timeout of the ``[ib]`` settings, IB-sized retries."""
        return cls(timeout=ib.request_timeout)


class IBRequests:
    """Paced, timed-out, translated requests: contract details, historical bars, fundamentals."""

    def __init__(
        self,
        connection: IBConnection,
        pacer: IBPacer,
        *,
        policy: RequestPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._connection = connection
        self._pacer = pacer
        self._clock = connection.clock
        self._policy = policy if policy is not None else RequestPolicy()
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not secrets
        self.pacing_violations = 0

    @property
    def pacer(self) -> IBPacer:
        """The pacer every request passes."""
        return self._pacer

    @property
    def policy(self) -> RequestPolicy:
        """Timeouts and retry limits."""
        return self._policy

    # ------------------------------------------------------------------ requests

    async def qualify(self, symbol: str, *, currency: str = "USD") -> ContractInfo:
        """What IB says ``symbol`` is (a SMART-routed stock); RequestFailed if unknown or ambiguous."""
        contract = stock_contract(symbol, currency=currency)
        details: list[ContractDetails] = await self._send(
            f"contract details {symbol}",
            lambda: self._ib.reqContractDetailsAsync(contract),
            self._message,
        )
        matches = [d for d in details if d.contract is not None and d.contract.symbol == symbol]
        if not matches:
            raise RequestFailed(
                f"contract details {symbol}: IB knows no {currency} stock {symbol}",
                code=200,
                request="contract details",
            )
        if len({d.contract.conId for d in matches if d.contract is not None}) > 1:
            raise RequestFailed(
                f"contract details {symbol}: ambiguous, {len(matches)} contracts match",
                code=200,
                request="contract details",
            )
        return contract_info(matches[0])

    async def historical_bars(
        self,
        info: ContractInfo,
        *,
        end: datetime | None,
        duration: str,
        bar_size: BarSize,
        what_to_show: WhatToShow = WhatToShow.TRADES,
        use_rth: bool = True,
        expected_codes: Collection[int] = (),
    ) -> list[PriceBar]:
        """Bars ending at ``end`` (None: now) spanning IB's ``duration`` (e.g. ``"2 D"``).

        Raises :class:`RequestFailed` with code 162 when IB has no bars for the window (IB's own
        "no data" answer, or an empty one), and on errors and timeouts; never returns ``[]``.
        IB errors in ``expected_codes`` are the caller's to report, so they are logged at debug.
        """
        contract = contract_for(info)
        label = f"historical {info.symbol} {bar_size.value} {duration} to {end or 'now'}"
        request_key = (info.con_id, end, duration, bar_size, what_to_show, use_rth)

        async def fetch() -> list[PriceBar]:
            bars = await self._ib.reqHistoricalDataAsync(
                contract,
                endDateTime=end or "",
                durationStr=duration,
                barSizeSetting=bar_size.value,
                whatToShow=what_to_show.value,
                useRTH=use_rth,
                formatDate=2,  # intraday times as UTC epochs
                timeout=0,  # ours, on the injected clock: ib_async's would answer "empty" instead
            )
            if not bars:
                raise RequestFailed(f"{label}: IB returned no bars", code=NO_DATA, request=label)
            return [price_bar(bar, info.symbol, bar_size) for bar in bars]

        return await self._send(
            label,
            fetch,
            lambda: self._pacer.historical(
                request_key, (info.con_id, "SMART"), what_to_show, bar_size=bar_size
            ),
            expected_codes=expected_codes,
        )

    async def fundamental_xml(
        self, info: ContractInfo, report_type: str, *, expected_codes: Collection[int] = ()
    ) -> str:
        """IB's ``report_type`` document for ``info``.

        430, an empty answer and no answer within the timeout all raise
        :class:`FundamentalsUnavailable`: IB de-supported these reports in API 10.47. IB errors in
        ``expected_codes`` (430 for a caller that says "unavailable" itself) are logged at debug.
        """
        contract = contract_for(info)
        label = f"fundamentals {info.symbol} {report_type}"
        try:
            xml: str = await self._send(
                label,
                lambda: self._ib.reqFundamentalDataAsync(contract, report_type),
                lambda: self._paced(self._pacer.fundamentals(info.symbol)),
                expected_codes=expected_codes,
            )
        except TimeoutError as exc:
            raise FundamentalsUnavailable(
                f"{label}: no answer within {self._policy.timeout:g} s", request=label
            ) from exc
        except RequestFailed as exc:
            if exc.code == FUNDAMENTALS_UNAVAILABLE:
                raise FundamentalsUnavailable(str(exc), code=exc.code, request=label) from exc
            raise
        if not xml or not xml.strip():
            raise FundamentalsUnavailable(f"{label}: IB returned an empty document", request=label)
        return xml

    async def positions(self) -> list[Position]:
        """The account positions IB holds now (``reqPositions``: a fresh snapshot, not a cache).

        Filtered to the connection's account when it has one; flat positions are left out.
        """
        answer: list[IBPosition] = await self._send(
            "positions", self._ib.reqPositionsAsync, self._message
        )
        account = self._connection.account
        return [
            position_from_ib(p)
            for p in answer
            if p.position and (not account or p.account == account)
        ]

    # ------------------------------------------------------------------ machinery

    @property
    def _ib(self) -> IB:
        return self._connection.ib

    def _message(self) -> AbstractAsyncContextManager[None]:
        return self._paced(self._pacer.message())

    @staticmethod
    @asynccontextmanager
    async def _paced(wait: Awaitable[None]) -> AsyncIterator[None]:
        await wait
        yield

    async def _send(
        self,
        label: str,
        send: Callable[[], Awaitable[T]],
        pace: Callable[[], AbstractAsyncContextManager[None]],
        *,
        expected_codes: Collection[int] = (),
    ) -> T:
        """Wait for the connection, pass the pacer, send, translate; retry pacing and drops.

        Raises :class:`TimeoutError` when no answer comes in time (callers say what that means).
        A failure with a code in ``expected_codes`` is logged at debug: the caller reports it.
        """
        limit = self._policy.timeout
        pacing_attempts = 0
        drops = 0
        while True:
            await self._connection.wait_ready()
            try:
                async with pace():
                    try:
                        return await within(self._clock, limit, send())
                    except RequestError as exc:
                        if is_pacing_violation(exc.code, exc.message):
                            # raised inside the block, so the pacer sees it and slows down
                            raise translate_request_error(exc, request=label) from exc
                        raise
            except RequestError as exc:
                say = log.debug if exc.code in expected_codes else log.warning
                say("requests.failed", request=label, code=exc.code, error=exc.message)
                raise translate_request_error(exc, request=label) from exc
            except PacingViolation as error:
                self.pacing_violations += 1
                if pacing_attempts >= self._policy.pacing_retries:
                    log.warning("requests.pacing_gave_up", request=label, attempts=pacing_attempts)
                    raise
                delay = self._policy.pacing_backoff.delay(pacing_attempts, self._rng)
                pacing_attempts += 1
                log.warning(
                    "requests.pacing_violation",
                    request=label,
                    code=error.code,
                    retry_in=round(delay, 3),
                    attempt=pacing_attempts,
                )
                await self._clock.sleep(delay)
            except TimeoutError:
                log.warning("requests.timeout", request=label, timeout=limit)
                raise
            except ConnectionError as exc:  # the socket dropped while we waited for the answer
                drops += 1
                if drops > self._policy.reconnect_retries:
                    raise RequestFailed(f"{label}: connection lost ({exc})", request=label) from exc
                log.warning("requests.connection_lost", request=label, retry=drops)
