"""SEC EDGAR as a source of point-in-time fundamentals (US issuers' XBRL company facts).

- :class:`EdgarClient`: the HTTP client, under the SEC's fair-access rules (10 requests/s, a
  declared User-Agent, on-disk cache with conditional requests, retries honouring Retry-After);
- :class:`SecSource`: a symbol's history of :class:`~ibbot.models.FundamentalData`, one record per
  filing date, and :meth:`SecSource.as_of`;
- the mapping (:mod:`.concepts`, :mod:`.ttm`, :mod:`.pointintime`, :mod:`.mapping`) is pure;
- :mod:`.fake` and :mod:`.synthetic`: a loopback fake of the SEC's endpoints and documents of the
  real shape, for tests and demos.
"""

from ibbot.fundamentals.sec.client import (
    SEC_DATA_URL,
    SEC_MAX_REQUESTS_PER_SECOND,
    SEC_WWW_URL,
    EdgarClient,
    EdgarStats,
    check_user_agent,
)
from ibbot.fundamentals.sec.concepts import MEASURES, Kind, Measure, MeasureSpec
from ibbot.fundamentals.sec.facts import (
    CompanyFacts,
    CompanyRef,
    Fact,
    Frame,
    FrameRow,
    normalize_ticker,
)
from ibbot.fundamentals.sec.mapping import (
    BOOK_VALUE_PER_SHARE,
    REPORT_TYPE,
    SOURCE,
    build_history,
    priced,
)
from ibbot.fundamentals.sec.pointintime import KNOWN_AT, filing_day_known_by, known_at
from ibbot.fundamentals.sec.source import SecSource
from ibbot.fundamentals.sec.ttm import Trailing, TtmMethod, trailing_twelve_months

__all__ = [
    "BOOK_VALUE_PER_SHARE",
    "KNOWN_AT",
    "MEASURES",
    "REPORT_TYPE",
    "SEC_DATA_URL",
    "SEC_MAX_REQUESTS_PER_SECOND",
    "SEC_WWW_URL",
    "SOURCE",
    "CompanyFacts",
    "CompanyRef",
    "EdgarClient",
    "EdgarStats",
    "Fact",
    "Frame",
    "FrameRow",
    "Kind",
    "Measure",
    "MeasureSpec",
    "SecSource",
    "Trailing",
    "TtmMethod",
    "build_history",
    "check_user_agent",
    "filing_day_known_by",
    "known_at",
    "normalize_ticker",
    "priced",
    "trailing_twelve_months",
]
