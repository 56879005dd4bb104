"""Benchmark of the SEC mapping: parse a large company-facts document and build its history.

Run: ``uv run python benchmarks/sec_history.py [--years N] [--extra-concepts N] [--repeat N]``

The document is synthetic but of a large filer's size: ``--years`` of quarterly filings (10-Qs and
10-Ks with comparatives) of every mapped concept, plus ``--extra-concepts`` other concepts (a real
filer reports several hundred) that the mapping skips. The baseline, measured in the same run, is
``json.loads`` of the same bytes: the least any consumer of the document must spend. Figures are the
best of ``--repeat`` runs; the ratio is our time / baseline time.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING

from ibbot.fundamentals.sec.concepts import wanted_concepts
from ibbot.fundamentals.sec.facts import parse_company_facts
from ibbot.fundamentals.sec.mapping import build_history
from ibbot.fundamentals.sec.synthetic import (
    CompanyFactsBuilder,
    QuarterFigures,
    fiscal_quarters,
    quarterly_history,
)

if TYPE_CHECKING:
    from collections.abc import Callable

URL = "https://data.sec.gov/api/xbrl/companyfacts/CIK0000000042.json"


def document(years: int, extra: int) -> bytes:
    builder = CompanyFactsBuilder(42, "BIG FILER INC")
    quarters = []
    for i, period in enumerate(fiscal_quarters(2010, years * 4)):
        figures = QuarterFigures(
            revenue=1e9 + i * 1e7,
            net_income=1e8 + i * 1e6,
            eps=1.0 + i / 100,
            operating_cash_flow=1.2e8,
            dividends_per_share=0.2,
            assets=5e9 + i * 1e7,
            liabilities=3e9,
            equity=2e9 + i * 1e7,
            shares=1e8,
            extra={f"us-gaap:OtherConcept{n}": float(n + i) for n in range(extra)},
        )
        quarters.append((period, figures))
    quarterly_history(builder, quarters)
    return builder.body()


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--years", type=int, default=16)
    parser.add_argument("--extra-concepts", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    body = document(args.years, args.extra_concepts)
    concepts = wanted_concepts()
    facts = parse_company_facts(body, URL, concepts)
    records = build_history("BIG", facts, document_url=URL)
    kept = sum(len(v) for v in facts.facts.values())

    baseline = best(args.repeat, lambda: json.loads(body))
    parse = best(args.repeat, lambda: parse_company_facts(body, URL, concepts))
    history = best(args.repeat, lambda: build_history("BIG", facts, document_url=URL))

    print(
        f"document: {len(body) / 1e6:.1f} MB, {facts.reported_concepts} concepts, "
        f"{kept} facts of the mapped concepts, {len(records)} history records"
    )
    print(f"baseline json.loads:           {baseline * 1000:8.1f} ms")
    print(f"parse (json + validation):     {parse * 1000:8.1f} ms   ratio {parse / baseline:5.2f}")
    print(
        f"build_history ({len(records)} records):  {history * 1000:8.1f} ms   "
        f"ratio {history / baseline:5.2f}"
    )
    total = parse + history
    print(f"total per company:             {total * 1000:8.1f} ms   ratio {total / baseline:5.2f}")


if __name__ == "__main__":
    main()
