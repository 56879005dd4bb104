"""The SEC's JSON documents, validated and turned into small typed values.

Three documents (their shapes are the SEC's; see the EDGAR API documentation):

- the ticker map (``company_tickers.json``): ``{"0": {"cik_str": 320193, "ticker": "AAPL",
  "title": "Apple Inc."}, ...}``;
- company facts (``api/xbrl/companyfacts/CIK##########.json``): every XBRL fact a company has filed,
  ``{"cik", "entityName", "facts": {taxonomy: {concept: {"label", "description", "units": {unit:
  [{"start"?, "end", "val", "accn", "fy", "fp", "form", "filed", "frame"?}, ...]}}}}}``. A fact for
  one period appears once per filing that reported it, so restatements and comparatives are all
  there, each with its filing date: what makes point-in-time views possible;
- frames (``api/xbrl/frames/{taxonomy}/{concept}/{unit}/{period}.json``): one concept for every
  company in one calendar period, ``{"taxonomy", "tag", "uom", "ccp", "label", "data": [{"accn",
  "cik", "entityName", "loc", "end", "val"}, ...]}``.

Outside input is validated with pydantic; anything of the wrong shape is a
:class:`~ibbot.fundamentals.errors.MalformedResponse` naming the URL and the first problem.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from ibbot.fundamentals.errors import MalformedResponse
from ibbot.safeload import LoadError, load_json

__all__ = [
    "CompanyFacts",
    "CompanyRef",
    "Fact",
    "Frame",
    "FrameRow",
    "normalize_ticker",
    "parse_company_facts",
    "parse_frame",
    "parse_ticker_map",
]


def normalize_ticker(symbol: str) -> str:
    """The SEC's spelling of a ticker: upper case, share classes after a dash (``BRK.B`` -> ``BRK-B``)."""
    return symbol.strip().upper().replace(".", "-").replace(" ", "-")


@dataclass(frozen=True, slots=True)
class CompanyRef:
    """A company in the SEC's ticker map."""

    cik: int
    ticker: str
    title: str

    @property
    def cik10(self) -> str:
        """The CIK as the SEC's URLs and ibbot's ``FundamentalData.cik`` spell it: ten digits."""
        return f"{self.cik:010d}"


@dataclass(frozen=True, slots=True)
class Fact:
    """One reported value: a concept for a period, as one filing stated it.

    ``start`` is None for instants (balance-sheet items, share counts). ``filed`` is the filing
    date of the report that stated it; ``accession`` identifies that filing.
    """

    concept: str  # "taxonomy:Name", e.g. "us-gaap:Revenues"
    unit: str
    value: float
    start: date | None
    end: date
    accession: str
    form: str
    filed: date
    fiscal_year: int | None = None
    fiscal_period: str | None = None
    frame: str | None = None

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance of this fact (for ``FundamentalData.details``)."""
        return {
            "concept": self.concept,
            "unit": self.unit,
            "value": self.value,
            "start": None if self.start is None else self.start.isoformat(),
            "end": self.end.isoformat(),
            "form": self.form,
            "accession": self.accession,
            "filed": self.filed.isoformat(),
            "fiscal_year": self.fiscal_year,
            "fiscal_period": self.fiscal_period,
        }


@dataclass(frozen=True, slots=True)
class CompanyFacts:
    """The facts of one company, by concept (``"us-gaap:Revenues"``), in the SEC's order.

    ``facts`` may hold only the concepts asked for; ``reported_concepts`` counts every concept the
    document had (0: the company files no XBRL financial data at all).
    """

    cik: int
    entity_name: str
    facts: Mapping[str, tuple[Fact, ...]]
    reported_concepts: int = 0

    def of(self, concept: str) -> tuple[Fact, ...]:
        """Every fact of ``concept`` (empty when the company never reported it)."""
        return self.facts.get(concept, ())


@dataclass(frozen=True, slots=True)
class FrameRow:
    """One company's value in a frame."""

    cik: int
    entity_name: str
    accession: str
    end: date
    value: float
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """One concept across every company for one calendar period (``CY2023``, ``CY2023Q4I``...)."""

    taxonomy: str
    concept: str
    unit: str
    period: str
    label: str
    rows: tuple[FrameRow, ...]


# --- validation models (outside input) --------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _TickerEntry(_Lenient):
    cik_str: int
    ticker: str
    title: str


class _FactItem(_Lenient):
    start: date | None = None
    end: date
    val: float
    accn: str
    fy: int | None = None
    fp: str | None = None
    form: str
    filed: date
    frame: str | None = None


class _Concept(_Lenient):
    units: dict[str, list[Any]]


class _CompanyFactsDoc(_Lenient):
    cik: int
    entityName: str  # noqa: N815 - the SEC's field name
    facts: dict[str, dict[str, Any]]


class _FrameItem(_Lenient):
    accn: str
    cik: int
    entityName: str  # noqa: N815 - the SEC's field name
    loc: str | None = None
    end: date
    val: float


class _FrameDoc(_Lenient):
    taxonomy: str
    tag: str
    uom: str
    ccp: str
    label: str = ""
    data: list[_FrameItem]


# Apple's companyfacts is about 4 MB; anything near this is not an SEC answer.
_MAX_BODY = 256 << 20
_TICKERS = TypeAdapter(dict[str, _TickerEntry])
_FACT_ITEMS = TypeAdapter(list[_FactItem])


def _load(body: bytes, url: str) -> Any:
    try:
        return load_json(body, max_chars=_MAX_BODY)
    except LoadError as exc:
        excerpt = body[-40:].decode("utf-8", "replace")
        raise MalformedResponse(
            f"{url}: not valid JSON ({exc}); {len(body)} bytes, ending {excerpt!r}", url=url
        ) from exc


def _invalid(url: str, what: str, exc: ValidationError) -> MalformedResponse:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return MalformedResponse(f"{url}: not {what}: {where}: {first['msg']}", url=url)


def parse_ticker_map(body: bytes, url: str) -> dict[str, CompanyRef]:
    """The ticker map as ``{normalized ticker: CompanyRef}``."""
    try:
        entries = _TICKERS.validate_python(_load(body, url))
    except ValidationError as exc:
        raise _invalid(url, "the SEC's ticker map", exc) from exc
    companies: dict[str, CompanyRef] = {}
    for entry in entries.values():
        ticker = normalize_ticker(entry.ticker)
        # A few tickers appear twice (a company and a share class); the first listed is the main.
        companies.setdefault(ticker, CompanyRef(entry.cik_str, ticker, entry.title))
    return companies


def parse_company_facts(
    body: bytes, url: str, concepts: Collection[str] | None = None
) -> CompanyFacts:
    """A company-facts document, keeping only ``concepts`` (``"taxonomy:Name"``; all when None).

    Only the kept concepts are validated fact by fact: a company's document holds hundreds of
    concepts the mapping never reads.
    """
    try:
        doc = _CompanyFactsDoc.model_validate(_load(body, url))
    except ValidationError as exc:
        raise _invalid(url, "an XBRL company-facts document", exc) from exc
    wanted = None if concepts is None else frozenset(concepts)
    facts: dict[str, tuple[Fact, ...]] = {}
    reported = 0
    for taxonomy, members in doc.facts.items():
        reported += len(members)
        for name, raw in members.items():
            concept = f"{taxonomy}:{name}"
            if wanted is not None and concept not in wanted:
                continue
            try:
                units = _Concept.model_validate(raw).units
                items = [(unit, _FACT_ITEMS.validate_python(rows)) for unit, rows in units.items()]
            except ValidationError as exc:
                raise _invalid(url, f"valid facts of {concept}", exc) from exc
            facts[concept] = tuple(
                Fact(
                    concept=concept,
                    unit=unit,
                    value=item.val,
                    start=item.start,
                    end=item.end,
                    accession=item.accn,
                    form=item.form,
                    filed=item.filed,
                    fiscal_year=item.fy,
                    fiscal_period=item.fp,
                    frame=item.frame,
                )
                for unit, rows in items
                for item in rows
            )
    return CompanyFacts(doc.cik, doc.entityName, facts, reported)


def parse_frame(body: bytes, url: str) -> Frame:
    """A frames document."""
    try:
        doc = _FrameDoc.model_validate(_load(body, url))
    except ValidationError as exc:
        raise _invalid(url, "an XBRL frame", exc) from exc
    return Frame(
        taxonomy=doc.taxonomy,
        concept=doc.tag,
        unit=doc.uom,
        period=doc.ccp,
        label=doc.label,
        rows=tuple(
            FrameRow(row.cik, row.entityName, row.accn, row.end, row.val, row.loc)
            for row in doc.data
        ),
    )
