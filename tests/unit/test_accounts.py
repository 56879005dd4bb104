"""Account ids outside the connection: the mask, the keyed pseudonym and the scrubbing of records."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from ibbot.accounts import AccountKeyError, AccountPseudonyms, is_pseudonym, mask_account
from ibbot.models import Event, EventType, Fill, OrderSide, PriceBar

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("account", "masked"),
    [
        ("DU1234567", "DU****567"),
        ("U7654321", "U****321"),
        ("F12", "F**"),
        ("DU1", "DU*"),
        ("", "*"),
    ],
)
def test_the_mask_keeps_the_prefix_and_the_last_digits(account: str, masked: str) -> None:
    """A person tells paper from live and recognises their account; the middle is hidden."""
    assert mask_account(account) == masked


def test_pseudonyms_are_stable_per_key_and_differ_between_keys(tmp_path: Path) -> None:
    """Same key file: same pseudonym (across instances); another key: another one; never the id."""
    key = tmp_path / "state" / "account.key"
    first = AccountPseudonyms(key).pseudonym("DU1234567")
    assert first == AccountPseudonyms(key).pseudonym("DU1234567")
    assert first.startswith("DU****567#")
    assert is_pseudonym(first)
    assert "1234" not in first
    assert AccountPseudonyms(key).pseudonym("DU7654321") != first
    assert AccountPseudonyms(tmp_path / "other.key").pseudonym("DU1234567") != first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert AccountPseudonyms(key).pseudonym(first) == first
    assert AccountPseudonyms(key).pseudonym("") == ""


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    """A damaged key is an error naming the file, never silently replaced."""
    key = tmp_path / "account.key"
    key.write_text("not hex\n")
    with pytest.raises(AccountKeyError, match="is not an account key"):
        AccountPseudonyms(key).pseudonym("DU1")


def test_scrub_replaces_account_fields_at_any_depth_and_shares_the_rest(tmp_path: Path) -> None:
    """Mappings, lists and dataclasses (an event's fill) get pseudonyms; unchanged values are kept."""
    accounts = AccountPseudonyms(tmp_path / "account.key")
    tag = accounts.pseudonym("DU1")
    fill = Fill("e1", 1, 2, "AAPL", OrderSide.BUY, 10, 100.0, NOW, account="DU1")
    event = Event(EventType.FILL, "AAPL", NOW, fill)
    scrubbed = accounts.scrub(event)
    assert scrubbed.payload.account == tag
    assert scrubbed.payload.exec_id == "e1"
    record = {"book": {"positions": [{"account": "DU1", "symbol": "AAPL"}]}, "note": "DU1"}
    assert accounts.scrub(record) == {
        "book": {"positions": [{"account": tag, "symbol": "AAPL"}]},
        "note": "DU1",
    }
    bar = Event(EventType.PRICE_BAR, "AAPL", NOW, PriceBar("AAPL", NOW, 1, 1, 1, 1, 1))
    assert accounts.scrub(bar) is bar
    untouched = {"positions": [{"symbol": "AAPL"}]}
    assert accounts.scrub(untouched) is untouched
