"""The IB adapter: the only package that imports ib_async; it hands out ibbot's own models.

``fundamentals`` parses IB's report XML, ``errors`` is the table of IB's error codes and their
translation, ``conversions`` maps ib_async objects to ibbot models and back.
"""

from ibbot.broker.errors import IB_ERRORS, ErrorCategory, IBError
from ibbot.broker.fundamentals import (
    parse_financial_statements,
    parse_financial_summary,
    parse_report_snapshot,
)

__all__ = [
    "IB_ERRORS",
    "ErrorCategory",
    "IBError",
    "parse_financial_statements",
    "parse_financial_summary",
    "parse_report_snapshot",
]
