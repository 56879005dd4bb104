"""Hostile fundamentals XML: absurd figures and undecodable text are handled, never a crash.

The documents are the simulator's own ReportSnapshot (IB's structure), edited the way an attacker
or a broken feed would: a market cap that overflows once scaled to units, a lone surrogate.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from ibbot.broker.fundamentals import (
    REPORT_FIN_STATEMENTS,
    REPORT_FIN_SUMMARY,
    REPORT_SNAPSHOT,
    parse_financial_statements,
    parse_financial_summary,
    parse_report_snapshot,
)
from ibbot.errors import FundamentalsParseError
from ibbot.sim.fundamentals import report_xml
from ibbot.sim.universe import DEFAULT_UNIVERSE
from ibbot.store import ParquetStore

if TYPE_CHECKING:
    from pathlib import Path

AS_OF = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
SECURITY = DEFAULT_UNIVERSE["KO"]
PARSERS = {
    REPORT_SNAPSHOT: parse_report_snapshot,
    REPORT_FIN_STATEMENTS: parse_financial_statements,
    REPORT_FIN_SUMMARY: parse_financial_summary,
}


def document(report_type: str = REPORT_SNAPSHOT) -> str:
    """The simulator's report of KO."""
    return report_xml(report_type, SECURITY, price=100.0, as_of=AS_OF)


def with_ratio(xml: str, name: str, value: str) -> str:
    """``xml`` with ratio ``name`` set to ``value``."""
    pattern = rf'(<Ratio FieldName="{name}"[^>]*>)[^<]*(</Ratio>)'
    edited, count = re.subn(pattern, rf"\g<1>{value}\g<2>", xml)
    assert count == 1, f"no {name} ratio in the document"
    return edited


@pytest.mark.parametrize(("name", "field"), [("MKTCAP", "market_cap"), ("TTMREV", "revenue")])
def test_a_figure_overflowing_once_scaled_is_none_with_a_warning(
    name: str, field: str, tmp_path: Path
) -> None:
    """MKTCAP or TTMREV of 1e303 (millions) is inf in units: None, a warning, and the record stores."""
    xml = with_ratio(document(), name, "1e303")
    with capture_logs() as logs:
        record = parse_report_snapshot(xml, SECURITY.symbol, received_at=AS_OF)
    assert getattr(record, field) is None
    assert record.price is not None
    warnings = [e for e in logs if e["event"] == "fundamentals.value_out_of_range"]
    assert [(e["log_level"], e["field"], e["symbol"]) for e in warnings] == [
        ("warning", name, SECURITY.symbol)
    ]
    with ParquetStore(tmp_path) as store:
        store.write_fundamental(SECURITY.symbol, record)
        assert store.read_fundamental(SECURITY.symbol) == record


@pytest.mark.parametrize("report_type", list(PARSERS))
@pytest.mark.parametrize("where", ["text", "attribute"])
def test_a_lone_surrogate_is_a_parse_error(report_type: str, where: str) -> None:
    """A lone surrogate in a report's text or an attribute is a FundamentalsParseError, printable."""
    xml = document(report_type)
    closing = xml.rindex("</")
    if where == "text":
        xml = xml[:closing] + "<Note>\ud800</Note>" + xml[closing:]
    else:
        xml = xml.replace(">", ' Note="\udfff">', 2)
    with pytest.raises(FundamentalsParseError, match="undecodable text") as caught:
        PARSERS[report_type](xml, SECURITY.symbol)
    str(caught.value).encode("utf-8")  # loggable as is: the excerpt has no surrogate left


@pytest.mark.parametrize("encoding", ["UTF-16", "x-no-such-encoding"])
def test_a_declared_encoding_the_text_does_not_have_is_handled(encoding: str) -> None:
    """A declaration naming another or an unknown encoding parses or is a FundamentalsParseError."""
    xml = document().replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    with contextlib.suppress(FundamentalsParseError):
        assert parse_report_snapshot(xml, SECURITY.symbol).symbol == SECURITY.symbol
