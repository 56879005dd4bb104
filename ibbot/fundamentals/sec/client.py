"""An asyncio client for the SEC's EDGAR APIs, written to the SEC's fair-access rules.

The rules (the SEC's "Accessing EDGAR Data" page): at most **10 requests per second** per user,
across all SEC hosts; a **declared User-Agent** naming the requester with a contact address
(undeclared automated tools get 403 and may be blocked for a while, and a client that keeps
exceeding the rate is blocked for about ten minutes); download only what is needed.

How this client keeps them:

- every request (retries included) passes a :class:`~ibbot.pacing.SlidingWindowLimiter` of
  ``max_requests_per_second`` in any one-second window: exactly "at most N per second", where a
  token bucket would allow its burst on top of its rate;
- the User-Agent comes from the required setting ``fundamentals.sec_user_agent``; without a name
  and e-mail the client refuses to start (:class:`~ibbot.errors.ConfigError`, one line);
- answers are cached on disk (:mod:`ibbot.fundamentals.sec.cache`): within ``revalidate_after``
  no request is made at all; after it, a conditional request (``If-None-Match`` /
  ``If-Modified-Since``) costs one round trip and no body when nothing changed (304);
- 429 and 5xx answers and network errors are retried with exponential backoff, waiting what
  ``Retry-After`` asks when the SEC says (capped at ten minutes, the SEC's block time).

The client speaks HTTP through httpx; everything it returns is ibbot's own typed values
(:mod:`ibbot.fundamentals.sec.facts`), and every failure is a
:class:`~ibbot.fundamentals.errors.FundamentalsError`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final, Self, TypeVar

import httpx
import structlog

from ibbot.errors import ConfigError
from ibbot.fundamentals.errors import (
    MalformedResponse,
    NoXbrlFacts,
    SecRequestFailed,
    SourceUnavailable,
    UnknownTicker,
)
from ibbot.fundamentals.sec.cache import CachedResponse, ResponseCache
from ibbot.fundamentals.sec.facts import (
    CompanyFacts,
    CompanyRef,
    Frame,
    normalize_ticker,
    parse_company_facts,
    parse_frame,
    parse_ticker_map,
)
from ibbot.pacing import SlidingWindowLimiter

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from pathlib import Path
    from types import TracebackType

    from ibbot.clock import Clock
    from ibbot.settings import FundamentalsSettings

__all__ = [
    "SEC_DATA_URL",
    "SEC_MAX_REQUESTS_PER_SECOND",
    "SEC_WWW_URL",
    "EdgarClient",
    "EdgarStats",
    "check_user_agent",
]

log = structlog.get_logger(__name__)

SEC_DATA_URL: Final = "https://data.sec.gov"
SEC_WWW_URL: Final = "https://www.sec.gov"
SEC_MAX_REQUESTS_PER_SECOND: Final = 10
_TICKERS_PATH: Final = "/files/company_tickers.json"
_USER_AGENT_KEY: Final = "fundamentals.sec_user_agent"
# Statuses worth retrying: rate limited, and the server's own troubles.
_RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})
# The SEC blocks a client that exceeds its rate for about ten minutes: waiting longer is pointless.
_RETRY_AFTER_CAP: Final = 600.0
_NOT_MODIFIED: Final = 304
_OK: Final = 200
_FORBIDDEN: Final = 403
_NOT_FOUND: Final = 404

T = TypeVar("T")


def check_user_agent(user_agent: str) -> str:
    """``user_agent`` stripped, or :class:`ConfigError` when it does not name a contact e-mail."""
    text = user_agent.strip()
    if not text:
        raise ConfigError(
            _USER_AGENT_KEY,
            "",
            "required by the SEC source: your name and a contact e-mail, sent as the User-Agent "
            "as the SEC's fair-access policy asks (e.g. 'Jane Doe jane@example.com')",
        )
    if "@" not in text:
        raise ConfigError(
            _USER_AGENT_KEY, "<redacted>", "must include a contact e-mail (the SEC asks for one)"
        )
    return text


@dataclass(frozen=True, slots=True)
class EdgarStats:
    """What the client has done: requests sent (retries included), answers served from the cache
    without a request, 304 revalidations, and retries."""

    requests: int
    cache_hits: int
    not_modified: int
    retries: int


class EdgarClient:
    """Ticker -> CIK, company facts and frames from EDGAR (see the module docstring).

    An async context manager; :meth:`aclose` is idempotent. ``transport`` replaces httpx's network
    transport (tests use the real one against a loopback server).
    """

    def __init__(
        self,
        *,
        user_agent: str,
        clock: Clock,
        cache_dir: Path,
        base_url: str = SEC_DATA_URL,
        www_url: str = SEC_WWW_URL,
        max_requests_per_second: int = SEC_MAX_REQUESTS_PER_SECOND,
        revalidate_after: timedelta = timedelta(hours=12),
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        agent = check_user_agent(user_agent)
        if not 1 <= max_requests_per_second <= SEC_MAX_REQUESTS_PER_SECOND:
            raise ConfigError(
                "fundamentals.sec_max_requests_per_second",
                max_requests_per_second,
                f"must be from 1 to {SEC_MAX_REQUESTS_PER_SECOND} (the SEC's fair-access limit)",
            )
        if max_attempts < 1:
            raise ConfigError("fundamentals.sec_max_attempts", max_attempts, "must be at least 1")
        self._clock = clock
        self._base_url = base_url.rstrip("/")
        self._www_url = www_url.rstrip("/")
        self._limiter = SlidingWindowLimiter(max_requests_per_second, 1.0, clock)
        self._cache = ResponseCache(cache_dir)
        self._revalidate_after = revalidate_after
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._http = httpx.AsyncClient(
            headers={"User-Agent": agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
        )
        self._tickers: dict[str, CompanyRef] | None = None
        self._tickers_loaded: datetime | None = None
        self._tickers_lock = asyncio.Lock()
        self._requests = 0
        self._cache_hits = 0
        self._not_modified = 0
        self._retries = 0
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: FundamentalsSettings,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> EdgarClient:
        """A client configured by the ``[fundamentals]`` settings."""
        return cls(
            user_agent=settings.sec_user_agent,
            clock=clock,
            cache_dir=settings.sec_cache_dir,
            base_url=settings.sec_base_url,
            www_url=settings.sec_www_url,
            max_requests_per_second=settings.sec_max_requests_per_second,
            revalidate_after=timedelta(hours=settings.sec_revalidate_hours),
            timeout=settings.sec_request_timeout,
            max_attempts=settings.sec_max_attempts,
            transport=transport,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool; idempotent."""
        if not self._closed:
            self._closed = True
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def stats(self) -> EdgarStats:
        """A snapshot of the counters."""
        return EdgarStats(self._requests, self._cache_hits, self._not_modified, self._retries)

    # -- the endpoints ------------------------------------------------------------------------

    def company_facts_url(self, cik: int) -> str:
        """Where the company facts of ``cik`` are."""
        return f"{self._base_url}/api/xbrl/companyfacts/CIK{cik:010d}.json"

    async def tickers(self) -> dict[str, CompanyRef]:
        """The SEC's ticker map (``{ticker: CompanyRef}``), kept in memory between revalidations."""
        async with self._tickers_lock:
            now = self._clock.now()
            loaded = self._tickers_loaded
            if self._tickers is None or loaded is None or now - loaded >= self._revalidate_after:
                url = self._www_url + _TICKERS_PATH
                self._tickers = await self._document(url, lambda body: parse_ticker_map(body, url))
                self._tickers_loaded = now
            return self._tickers

    async def company(self, symbol: str) -> CompanyRef:
        """The company listed under ``symbol`` (``BRK.B`` is looked up as ``BRK-B``)."""
        ticker = normalize_ticker(symbol)
        found = (await self.tickers()).get(ticker)
        if found is None:
            raise UnknownTicker(f"{symbol}: not in the SEC's ticker map (not a US SEC filer?)")
        return found

    async def company_facts(
        self, cik: int, concepts: Collection[str] | None = None
    ) -> CompanyFacts:
        """Every XBRL fact company ``cik`` has filed (only ``concepts`` when given)."""
        url = self.company_facts_url(cik)
        facts = await self._document(
            url,
            lambda body: parse_company_facts(body, url, concepts),
            not_found=lambda: NoXbrlFacts(
                f"CIK {cik:010d}: the SEC has no XBRL company facts for it (funds, many foreign "
                "filers and shells file none)"
            ),
        )
        if facts.reported_concepts == 0:
            raise NoXbrlFacts(f"CIK {cik:010d}: its company-facts document holds no facts")
        return facts

    async def frame(self, taxonomy: str, concept: str, unit: str, period: str) -> Frame:
        """One concept for every company in one period (``CY2023``, ``CY2023Q4I``...)."""
        url = f"{self._base_url}/api/xbrl/frames/{taxonomy}/{concept}/{unit}/{period}.json"
        return await self._document(
            url,
            lambda body: parse_frame(body, url),
            not_found=lambda: SourceUnavailable(f"no frame {taxonomy}:{concept} {unit} {period}"),
        )

    # -- HTTP ---------------------------------------------------------------------------------

    async def _document(
        self,
        url: str,
        parse: Callable[[bytes], T],
        *,
        not_found: Callable[[], Exception] | None = None,
    ) -> T:
        """``url`` parsed, from the cache when fresh, else fetched (conditionally when cached).

        Only an answer that parses is cached, so a truncated download is never served later.
        """
        now = self._clock.now()
        entry = await asyncio.to_thread(self._cache.load, url)
        if entry is not None and now - entry.checked_at < self._revalidate_after:
            parsed = await self._parse_cached(entry, parse)
            if parsed is not None:
                self._cache_hits += 1
                log.debug("sec.cache_hit", url=url)
                return parsed[0]
            entry = None
        headers = {}
        if entry is not None and entry.etag:
            headers["If-None-Match"] = entry.etag
        if entry is not None and entry.last_modified:
            headers["If-Modified-Since"] = entry.last_modified
        response = await self._request(url, headers)
        status = response.status_code
        if status == _NOT_MODIFIED and entry is not None:
            parsed = await self._parse_cached(entry, parse)
            if parsed is not None:
                self._not_modified += 1
                await asyncio.to_thread(self._cache.save, replace(entry, checked_at=now))
                log.debug("sec.not_modified", url=url)
                return parsed[0]
            return await self._document(url, parse, not_found=not_found)  # dropped: fetch whole
        if status == _NOT_FOUND and not_found is not None:
            raise not_found()
        if status == _FORBIDDEN:
            raise SecRequestFailed(
                f"{url}: 403 Forbidden: the SEC refuses undeclared automated clients; make sure "
                "fundamentals.sec_user_agent names you and a contact e-mail",
                url=url,
                status=status,
            )
        if status != _OK:
            raise SecRequestFailed(
                f"{url}: HTTP {status} {response.reason_phrase}", url=url, status=status
            )
        body = response.content
        result = await asyncio.to_thread(parse, body)
        stored = CachedResponse(
            url=url,
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            fetched_at=now,
            checked_at=now,
        )
        await asyncio.to_thread(self._cache.save, stored)
        return result

    async def _parse_cached(
        self, entry: CachedResponse, parse: Callable[[bytes], T]
    ) -> tuple[T] | None:
        try:
            return (await asyncio.to_thread(parse, entry.body),)
        except MalformedResponse as exc:
            log.warning("sec.cache_entry_dropped", url=entry.url, reason=str(exc))
            await asyncio.to_thread(self._cache.discard, entry.url)
            return None

    async def _request(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """GET ``url`` under the rate limit, retrying 429/5xx and network errors with backoff."""
        status: int | None = None
        reason = ""
        for attempt in range(1, self._max_attempts + 1):
            await self._limiter.acquire()
            self._requests += 1
            try:
                response = await self._http.get(url, headers=headers)
            except httpx.TransportError as exc:
                status, reason = None, f"{type(exc).__name__}: {exc}"
                delay = self._backoff(attempt)
            else:
                if response.status_code not in _RETRYABLE:
                    return response
                status, reason = response.status_code, f"HTTP {response.status_code}"
                retry_after = self._retry_after(response)
                delay = self._backoff(attempt) if retry_after is None else retry_after
            if attempt == self._max_attempts:
                break
            self._retries += 1
            log.warning(
                "sec.request_retry",
                url=url,
                status=status,
                reason=reason,
                attempt=attempt,
                delay=round(delay, 3),
            )
            await self._clock.sleep(delay)
        raise SecRequestFailed(
            f"{url}: {reason or 'no answer'} after {self._max_attempts} attempts",
            url=url,
            status=status,
        )

    def _backoff(self, attempt: int) -> float:
        return float(min(self._backoff_initial * 2 ** (attempt - 1), self._backoff_max))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds the server asks us to wait (``Retry-After``: seconds or an HTTP date)."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        text = value.strip()
        if text.isdigit():
            seconds = float(text)
        else:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - self._clock.now()).total_seconds()
        return min(max(seconds, 0.0), _RETRY_AFTER_CAP)
