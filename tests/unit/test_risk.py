"""Risk gate: every rule blocks and passes at its boundary; kill switch; limits validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from ibbot.clock import SimulatedClock
from ibbot.errors import ConfigError, RiskBlocked
from ibbot.models import Order, OrderSide, OrderType
from ibbot.trading import (
    KillSwitch,
    Mismatch,
    ReconciliationOutcome,
    ReconciliationPolicy,
    RiskGate,
    RiskLimits,
    RiskRule,
    RiskVerdict,
)
from tests.unit.strategy_events import T0

if TYPE_CHECKING:
    from pathlib import Path

CAPITAL = 100_000.0


def order(side: OrderSide = OrderSide.BUY, quantity: int = 10, symbol: str = "JPM") -> Order:
    return Order("vm", symbol, side, quantity, decision_id="d1", created_at=T0)


def make_gate(limits: RiskLimits | None = None, **kwargs: Any) -> tuple[RiskGate, SimulatedClock]:
    clock = SimulatedClock(T0)
    kwargs.setdefault("account", "DU1234567")
    return RiskGate(limits or RiskLimits(), monotonic=clock.monotonic, **kwargs), clock


def check(gate: RiskGate, o: Order, **overrides: Any) -> RiskVerdict:
    args: dict[str, Any] = {
        "price": 210.0,
        "allocated_capital": CAPITAL,
        "position_quantity": 0.0,
        "daily_pnl": 0.0,
        "open_orders": 0,
    }
    args.update(overrides)
    return gate.check(o, **args)


def test_limits_defaults_match_the_settings() -> None:
    """The defaults are the documented safe values."""
    limits = RiskLimits()
    assert (
        limits.max_position_pct,
        limits.max_order_notional,
        limits.max_open_orders,
        limits.daily_loss_limit_pct,
        limits.min_order_notional,
        limits.kill_switch_file,
        limits.cancel_open_orders_on_kill,
        limits.on_reconciliation_mismatch,
    ) == (0.25, 25_000.0, 10, 0.05, 100.0, None, True, ReconciliationPolicy.HALT_SYMBOL)


def test_an_ordinary_order_passes_with_its_numbers() -> None:
    """Within every limit the verdict allows the order and says so."""
    gate, _ = make_gate()
    verdict = check(gate, order(quantity=10))
    assert verdict == RiskVerdict(True, "BUY 10 JPM x 210.00 = 2,100.00: within every limit")
    verdict.raise_if_blocked()


def test_max_order_notional_boundary() -> None:
    """Exactly the max notional passes; one share more is blocked, with the arithmetic."""
    gate, _ = make_gate()
    assert check(gate, order(quantity=100), price=250.0).allowed
    verdict = check(gate, order(quantity=101), price=250.0)
    assert verdict.rule is RiskRule.MAX_ORDER_NOTIONAL
    assert (
        verdict.message == "order BUY 101 JPM x 250.00 = 25,250.00 > max order notional 25,000.00"
    )


def test_max_position_boundary_counts_the_existing_holding() -> None:
    """Holding plus order at exactly 25% of capital passes; above it is blocked."""
    gate, _ = make_gate()
    assert check(gate, order(quantity=25), price=200.0, position_quantity=100).allowed
    verdict = check(gate, order(quantity=26), price=200.0, position_quantity=100)
    assert verdict.rule is RiskRule.MAX_POSITION
    assert verdict.message == (
        "position after order 126 JPM x 200.00 = 25,200.00 > max 25.0% of capital "
        "100,000.00 = 25,000.00"
    )


def test_max_open_orders_boundary() -> None:
    """With max-1 orders open a new one passes; at max it is blocked, exits included."""
    gate, _ = make_gate()
    assert check(gate, order(), open_orders=9).allowed
    verdict = check(gate, order(OrderSide.SELL), open_orders=10, position_quantity=50)
    assert verdict.rule is RiskRule.MAX_OPEN_ORDERS
    assert verdict.message == "10 open orders >= max open orders 10"


def test_daily_loss_limit_stops_entries_but_not_exits() -> None:
    """A loss just under the limit allows entries; reaching it blocks entries; exits still pass."""
    gate, _ = make_gate()
    assert check(gate, order(), daily_pnl=-4_999.99).allowed
    verdict = check(gate, order(), daily_pnl=-5_000.0)
    assert verdict.rule is RiskRule.DAILY_LOSS_LIMIT
    assert verdict.message == (
        "daily realized PnL -5,000.00 <= -5.0% of capital 100,000.00 = -5,000.00: "
        "no new entries today"
    )
    exit_ = check(gate, order(OrderSide.SELL, 50), daily_pnl=-6_000.0, position_quantity=100)
    assert exit_.allowed
    assert exit_.message == "SELL 50 JPM reduces the position of 100: allowed"


def test_reducing_orders_are_exempt_from_exposure_limits_but_flips_are_not() -> None:
    """Selling what is held passes even above the notional cap; selling more is checked."""
    gate, _ = make_gate()
    assert check(gate, order(OrderSide.SELL, 200), position_quantity=200).allowed
    assert check(gate, order(OrderSide.BUY, 200), position_quantity=-200).allowed
    flip = check(gate, order(OrderSide.SELL, 201), position_quantity=200)
    assert flip.rule is RiskRule.MAX_ORDER_NOTIONAL


def test_no_price_blocks_entries_not_exits() -> None:
    """An entry cannot be valued without a price; an exit needs none."""
    gate, _ = make_gate()
    verdict = check(gate, order(), price=None)
    assert verdict.rule is RiskRule.NO_PRICE
    assert check(gate, order(OrderSide.SELL), price=None, position_quantity=10).allowed


def test_kill_switch_file_appears_and_disappears(tmp_path: Path) -> None:
    """The file blocks every order once seen; checks happen at most once per second."""
    kill = tmp_path / "KILL"
    gate, clock = make_gate(RiskLimits(kill_switch_file=kill))
    assert check(gate, order()).allowed
    kill.touch()
    assert check(gate, order()).allowed  # not re-checked within the second
    clock.advance(1.0)
    verdict = check(gate, order(OrderSide.SELL), position_quantity=10)
    assert verdict.rule is RiskRule.KILL_SWITCH
    assert verdict.message == f"kill switch file {kill} exists: no new orders"
    kill.unlink()
    clock.advance(0.5)
    assert not check(gate, order()).allowed
    clock.advance(0.5)
    assert check(gate, order()).allowed


def test_kill_switch_engaged_by_hand_and_released() -> None:
    """engage() stops orders without a file; release() lets them through again."""
    gate, _ = make_gate()
    gate.kill_switch.engage("operator said stop")
    verdict = check(gate, order())
    assert verdict.rule is RiskRule.KILL_SWITCH
    assert verdict.message == "operator said stop: no new orders"
    gate.kill_switch.release()
    assert check(gate, order()).allowed
    assert gate.kill_switch.reason == ""


def test_kill_switch_counts_an_unreadable_path_as_present(tmp_path: Path) -> None:
    """When the file's existence cannot be determined, trading stops."""
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    switch = KillSwitch(not_a_dir / "KILL", monotonic=lambda: 0.0)
    assert switch.engaged()
    assert KillSwitch(None, monotonic=lambda: 0.0).engaged() is False
    with pytest.raises(ValueError, match="must not be negative"):
        KillSwitch(None, monotonic=lambda: 0.0, check_interval=-1)


def test_read_only_mode_blocks_everything() -> None:
    """Read-only mode refuses every order."""
    gate, _ = make_gate(read_only=True)
    verdict = check(gate, order())
    assert verdict.rule is RiskRule.READ_ONLY
    assert verdict.message == "read-only mode: no orders are sent"


@pytest.mark.parametrize(
    ("account", "allow_live", "allowed"),
    [
        ("DU1234567", False, True),
        ("U7654321", False, False),
        ("U7654321", True, True),
        ("", True, False),
    ],
)
def test_live_account_guard(account: str, allow_live: bool, allowed: bool) -> None:
    """Only paper (DU) accounts trade unless live is allowed; an unknown account never trades."""
    gate, _ = make_gate(account=account, allow_live=allow_live)
    verdict = check(gate, order())
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.rule is RiskRule.LIVE_ACCOUNT


def test_live_account_message_names_the_account() -> None:
    """The refusal says which account (masked: it is audited) and why."""
    gate, _ = make_gate(account="U7654321")
    assert check(gate, order()).message == (
        "account U****321 is a live account (paper accounts start with DU) and live trading "
        "is not enabled"
    )


def test_manual_halt_and_resume() -> None:
    """A halted symbol refuses orders (exits too); other symbols trade; resume lifts it."""
    gate, _ = make_gate()
    gate.halt_symbol("JPM", "corporate action")
    verdict = check(gate, order(OrderSide.SELL), position_quantity=10)
    assert verdict.rule is RiskRule.SYMBOL_HALTED
    assert verdict.message == "JPM is halted: corporate action"
    assert check(gate, order(symbol="XOM")).allowed
    assert gate.halted_symbols == {"JPM": "corporate action"}
    gate.resume_symbol("JPM")
    assert check(gate, order()).allowed


def test_reconciliation_halts_until_resolved() -> None:
    """Halted mismatches block their symbol until a later reconciliation no longer reports them."""
    gate, _ = make_gate()
    halted = Mismatch("JPM", 100, 0, ReconciliationOutcome.HALTED, {"vm": 100})
    ignored = Mismatch("XOM", 5, 0, ReconciliationOutcome.IGNORED, {"vm": 5})
    gate.apply_reconciliation([halted, ignored])
    verdict = check(gate, order())
    assert verdict.rule is RiskRule.SYMBOL_HALTED
    assert "book 100 (vm 100) != broker 0" in verdict.message
    assert check(gate, order(symbol="XOM")).allowed
    gate.apply_reconciliation([])
    assert check(gate, order()).allowed


def test_blocked_verdict_raises_risk_blocked_naming_the_rule() -> None:
    """raise_if_blocked turns a refusal into RiskBlocked carrying the rule."""
    gate, _ = make_gate(read_only=True)
    with pytest.raises(RiskBlocked) as caught:
        check(gate, order()).raise_if_blocked()
    assert caught.value.rule == "read_only"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_position_pct", 0.0),
        ("max_position_pct", 1.5),
        ("daily_loss_limit_pct", -0.1),
        ("max_order_notional", 0.0),
        ("max_order_notional", float("inf")),
        ("min_order_notional", -1.0),
        ("max_open_orders", 0),
        ("on_reconciliation_mismatch", "panic"),
    ],
)
def test_limits_validation(field: str, value: Any) -> None:
    """Out-of-range limits raise ConfigError under the risk settings key."""
    with pytest.raises(ConfigError) as caught:
        RiskLimits(**{field: value})
    assert caught.value.key == f"risk.{field}"


def test_policy_given_as_text_is_converted() -> None:
    """The reconciliation policy may be given as its settings string."""
    limits = RiskLimits(on_reconciliation_mismatch="adopt_broker")  # type: ignore[arg-type]
    assert limits.on_reconciliation_mismatch is ReconciliationPolicy.ADOPT_BROKER


def test_a_limit_order_is_valued_at_its_limit_and_a_stop_at_its_stop() -> None:
    """100 x limit 260 = 26,000 is over the cap though the market is 210; a stop uses its stop."""
    gate, _ = make_gate()
    limit = Order("vm", "JPM", OrderSide.BUY, 100, OrderType.LIMIT, limit_price=260.0)
    verdict = check(gate, limit, price=210.0)
    assert verdict.rule is RiskRule.MAX_ORDER_NOTIONAL
    assert verdict.message == (
        "order BUY 100 JPM LMT x 260.00 = 26,000.00 > max order notional 25,000.00"
    )
    cheap = Order("vm", "JPM", OrderSide.BUY, 100, OrderType.LIMIT, limit_price=240.0)
    assert check(gate, cheap, price=260.0) == RiskVerdict(
        True, "BUY 100 JPM LMT x 240.00 = 24,000.00: within every limit"
    )
    stop = Order("vm", "JPM", OrderSide.BUY, 100, OrderType.STOP, stop_price=251.0)
    assert check(gate, stop, price=None).rule is RiskRule.MAX_ORDER_NOTIONAL
    stop_limit = Order(
        "vm", "JPM", OrderSide.BUY, 100, OrderType.STOP_LIMIT, limit_price=249.0, stop_price=251.0
    )
    assert check(gate, stop_limit, price=None).allowed
