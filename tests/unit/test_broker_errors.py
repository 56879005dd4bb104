"""IB error table and its translations into ibbot errors, order states and connection states."""

from __future__ import annotations

import pytest
from ib_async import RequestError

from ibbot.broker.errors import (
    IB_ERRORS,
    ErrorCategory,
    connection_status_for,
    describe,
    error_info,
    is_pacing_violation,
    order_rejected,
    order_status_for_error,
    translate_request_error,
)
from ibbot.errors import OrderRejected, PacingViolation, RequestFailed
from ibbot.models import ConnectionState, ErrorInfo, OrderStatus

PACING_TEXT = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)
NO_DATA_TEXT = "Historical Market Data Service error message:HMDS query returned no data: AAPL"


def test_table_rows_are_complete_and_keyed_by_code() -> None:
    """Every row documents a meaning and a handling, and is filed under its own code."""
    for code, row in IB_ERRORS.items():
        assert row.code == code
        assert row.meaning
        assert row.handling
        assert isinstance(row.category, ErrorCategory)
    assert IB_ERRORS[326].category is ErrorCategory.CONNECTIVITY
    assert IB_ERRORS[2104].category is ErrorCategory.FARM_STATUS
    assert IB_ERRORS[201].category is ErrorCategory.ORDER_REJECTION


def test_unknown_codes_fall_back_by_range() -> None:
    """Unknown 2100-2199 codes are notices; other unknown codes are request errors."""
    assert describe(2199).category is ErrorCategory.WARNING
    assert describe(9999).category is ErrorCategory.REQUEST_ERROR
    assert describe(430).code == 430


@pytest.mark.parametrize(
    ("code", "text", "pacing"),
    [
        (100, "Max rate of messages per second has been exceeded.", True),
        (420, "Invalid Real-time Query: Historical data request pacing violation", True),
        (162, PACING_TEXT, True),
        (162, NO_DATA_TEXT, False),
        (
            162,
            "Historical Market Data Service error message:API historical data query cancelled",
            False,
        ),
        (200, "No security definition has been found for the request", False),
        (
            322,
            "Error processing request:-'wd' : cause - Only 50 simultaneous API historical data "
            "requests allowed.",
            True,
        ),
        (322, "Error processing request.-'bS' : cause - not supported", False),
        (
            430,
            "We are sorry, but fundamentals data for the security specified is not available.",
            False,
        ),
    ],
)
def test_pacing_detection(code: int, text: str, pacing: bool) -> None:
    """100 and 420 are pacing; 162 only when its text says pacing violation, 322 only when it says
    too many historical requests are open."""
    assert is_pacing_violation(code, text) is pacing


def test_request_error_translates_to_pacing_violation() -> None:
    """A 162 pacing RequestError becomes a PacingViolation carrying code and request."""
    err = translate_request_error(RequestError(7, 162, PACING_TEXT), request="historical AAPL")
    assert isinstance(err, PacingViolation)
    assert err.code == 162
    assert err.request == "historical AAPL"
    assert "historical AAPL" in str(err)
    assert "pacing violation" in str(err)


def test_request_error_no_data_is_a_plain_request_failure() -> None:
    """A 162 'no data' RequestError is a RequestFailed, not a pacing violation."""
    err = translate_request_error(RequestError(7, 162, NO_DATA_TEXT), request="historical AAPL")
    assert type(err) is RequestFailed
    assert err.code == 162


def test_order_rejected_names_the_order_and_reason() -> None:
    """OrderRejected keeps IB's code and says which order and why."""
    err = order_rejected(201, "Order rejected - reason: insufficient buying power", order_ref="v:9")
    assert isinstance(err, OrderRejected)
    assert err.code == 201
    assert "order v:9 rejected by IB (201)" in str(err)
    assert "insufficient buying power" in str(err)
    assert "order rejected by IB" in str(order_rejected(203, "not allowed"))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (202, OrderStatus.CANCELLED),
        (201, OrderStatus.REJECTED),
        (203, OrderStatus.REJECTED),
        (200, OrderStatus.REJECTED),
        (110, OrderStatus.REJECTED),
        (399, None),
        (161, None),
        (10148, None),
        (404, None),
        (2104, None),
    ],
)
def test_order_status_for_error(code: int, status: OrderStatus | None) -> None:
    """Rejection codes end an order as REJECTED, 202 as CANCELLED, warnings leave it working."""
    assert order_status_for_error(code) is status


@pytest.mark.parametrize("code", [1100, 2103, 2105, 2157])
def test_degraded_codes(code: int) -> None:
    """Lost connectivity and broken farms announce DEGRADED."""
    status = connection_status_for(code, "lost", host="127.0.0.1", port=4002, client_id=7)
    assert status is not None
    assert status.state is ConnectionState.DEGRADED
    assert (status.code, status.host, status.port, status.client_id) == (code, "127.0.0.1", 4002, 7)
    assert not status.data_lost


@pytest.mark.parametrize(
    ("code", "lost"), [(1101, True), (1102, False), (2104, False), (2106, False), (2158, False)]
)
def test_restored_codes(code: int, lost: bool) -> None:
    """Restored connectivity and farms announce RESTORED; only 1101 says data was lost."""
    status = connection_status_for(code, "ok")
    assert status is not None
    assert status.state is ConnectionState.RESTORED
    assert status.data_lost is lost


@pytest.mark.parametrize("code", [2107, 2108, 2119, 162, 201, 10197])
def test_other_codes_change_no_connection_state(code: int) -> None:
    """Inactive-farm notices and request errors are not connection state changes."""
    assert connection_status_for(code, "x") is None


def test_error_info_payload() -> None:
    """error_info builds the ErrorInfo payload of an error event."""
    assert error_info(430, "unavailable", request="fundamentals", symbol="X") == ErrorInfo(
        "unavailable", 430, "fundamentals", "X"
    )
