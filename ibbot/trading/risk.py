"""Risk limits and the gate every order passes before it reaches the broker.

The gate is pure bookkeeping over numbers its caller supplies (position, daily PnL, open orders),
so live trading and the backtester run the same checks. Rules apply in a fixed order and the first
that blocks names itself in the verdict, with the numbers that tripped it. Orders that only reduce
an existing position are exempt from the exposure rules (order notional, position size, daily
loss): getting out must stay possible. The kill switch, read-only mode, the live-account guard, a
reconciliation halt and the open-order cap stop every order. A limit order is valued at its limit
price and a stop order at its stop price (:func:`~ibbot.models.valuation_price`), whatever the
market price: that is what it may trade at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from ibbot.accounts import mask_account
from ibbot.errors import ConfigError, RiskBlocked
from ibbot.models import OrderType, valuation_price
from ibbot.models.frozen import builder
from ibbot.trading.kill_switch import KillSwitch
from ibbot.trading.reconciliation import ReconciliationOutcome, ReconciliationPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ibbot.models import Order
    from ibbot.trading.reconciliation import Mismatch

__all__ = [
    "PAPER_ACCOUNT_PREFIX",
    "ReconciliationPolicy",
    "RiskGate",
    "RiskLimits",
    "RiskRule",
    "RiskVerdict",
]

PAPER_ACCOUNT_PREFIX = "DU"
"""IB paper-trading account ids start with DU; anything else is treated as real money."""

_QUANTITY_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The limits, one per setting (same names as the ``risk`` section of the settings).

    Percentages are fractions of the strategy's allocated capital (0.25 is 25%).
    """

    max_position_pct: float = 0.25
    max_order_notional: float = 25_000.0
    max_open_orders: int = 10
    daily_loss_limit_pct: float = 0.05
    min_order_notional: float = 100.0
    kill_switch_file: Path | None = None
    cancel_open_orders_on_kill: bool = True
    keep_protective_orders_on_kill: bool = True  # a kill leaves positions' stops working at IB
    on_reconciliation_mismatch: ReconciliationPolicy = ReconciliationPolicy.HALT_SYMBOL

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "on_reconciliation_mismatch", _policy(self.on_reconciliation_mismatch)
        )
        for name, value in (
            ("max_position_pct", self.max_position_pct),
            ("daily_loss_limit_pct", self.daily_loss_limit_pct),
        ):
            if not 0 < value <= 1:
                raise ConfigError(f"risk.{name}", value, "must be a fraction above 0 and at most 1")
        if not 0 < self.max_order_notional < math.inf:
            raise ConfigError(
                "risk.max_order_notional", self.max_order_notional, "must be positive and finite"
            )
        if not 0 <= self.min_order_notional < math.inf:
            raise ConfigError("risk.min_order_notional", self.min_order_notional, "must be >= 0")
        if self.max_open_orders < 1:
            raise ConfigError("risk.max_open_orders", self.max_open_orders, "must be at least 1")


def _policy(value: ReconciliationPolicy | str) -> ReconciliationPolicy:
    try:
        return ReconciliationPolicy(value)
    except ValueError as exc:
        valid = ", ".join(p.value for p in ReconciliationPolicy)
        raise ConfigError(
            "risk.on_reconciliation_mismatch", value, f"must be one of {valid}"
        ) from exc


class RiskRule(StrEnum):
    """The rules, in the order the gate applies them."""

    KILL_SWITCH = "kill_switch"
    READ_ONLY = "read_only"
    LIVE_ACCOUNT = "live_account"
    SYMBOL_HALTED = "symbol_halted"
    MAX_OPEN_ORDERS = "max_open_orders"
    NO_PRICE = "no_price"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    DAILY_LOSS_LIMIT = "daily_loss_limit"


@dataclass(frozen=True, slots=True)
class RiskVerdict:
    """Whether an order may go, and if not, the rule that stopped it and why, with the numbers."""

    allowed: bool
    message: str
    rule: RiskRule | None = None

    def raise_if_blocked(self) -> None:
        """Raise :class:`~ibbot.errors.RiskBlocked` naming the rule when the order was refused."""
        if not self.allowed and self.rule is not None:
            raise RiskBlocked(self.rule.value, self.message)


_new_verdict = builder(RiskVerdict)  # RiskVerdict(...) without the per-field cost: one per order


class RiskGate:
    """Checks each order against :class:`RiskLimits` and the trading mode.

    ``account`` is the IB account orders go to (known once connected; until then nothing passes);
    live accounts are refused unless ``allow_live``. ``read_only`` refuses everything. Symbols are
    halted by hand (:meth:`halt_symbol`) or by reconciliation (:meth:`apply_reconciliation`).
    ``monotonic`` (e.g. ``clock.monotonic``) paces the kill-switch file check.
    """

    def __init__(
        self,
        limits: RiskLimits,
        *,
        monotonic: Callable[[], float],
        account: str = "",
        allow_live: bool = False,
        read_only: bool = False,
    ) -> None:
        self.limits = limits
        self.account = account
        self.allow_live = allow_live
        self.read_only = read_only
        self.kill_switch = KillSwitch(limits.kill_switch_file, monotonic=monotonic)
        self._halted: dict[str, str] = {}
        self._reconciliation_halts: dict[str, str] = {}

    # --- halts ------------------------------------------------------------------------------------

    def halt_symbol(self, symbol: str, reason: str) -> None:
        """Refuse orders in ``symbol`` until :meth:`resume_symbol`."""
        self._halted[symbol] = reason

    def resume_symbol(self, symbol: str) -> None:
        """Lift a halt, whether set by hand or by reconciliation."""
        self._halted.pop(symbol, None)
        self._reconciliation_halts.pop(symbol, None)

    @property
    def halted_symbols(self) -> Mapping[str, str]:
        """Every halted symbol with the reason."""
        return {**self._reconciliation_halts, **self._halted}

    def apply_reconciliation(self, mismatches: Iterable[Mismatch]) -> None:
        """Halt the symbols a reconciliation halted; lift earlier reconciliation halts now resolved."""
        self._reconciliation_halts = {
            m.symbol: m.message for m in mismatches if m.outcome is ReconciliationOutcome.HALTED
        }

    # --- the check --------------------------------------------------------------------------------

    def check(
        self,
        order: Order,
        *,
        price: float | None,
        allocated_capital: float,
        position_quantity: float,
        daily_pnl: float,
        open_orders: int,
        worst_case_loss: float | None = None,
    ) -> RiskVerdict:
        """Every rule against ``order``; the first that blocks is named in the verdict.

        ``price`` (the market price) values a market order, a limit or stop order is valued at
        its own price; ``position_quantity`` is what the order's strategy holds in
        the symbol now, ``daily_pnl`` its realized PnL today, ``open_orders`` the number of orders
        working at the broker (all strategies). ``worst_case_loss`` is a bracket's loss if its
        stop sells the entry: it counts against the daily loss limit before the entry is sent,
        so a protected entry never risks more than the day has left.
        """
        blocked = self._check_mode(order)
        if blocked is not None:
            return blocked
        limits = self.limits
        if open_orders >= limits.max_open_orders:
            return RiskVerdict(
                False,
                f"{open_orders} open orders >= max open orders {limits.max_open_orders}",
                RiskRule.MAX_OPEN_ORDERS,
            )
        signed = order.signed_quantity
        held = position_quantity
        reducing = (
            abs(held) > _QUANTITY_EPSILON
            and (held > 0) != (signed > 0)
            and abs(signed) <= abs(held) + _QUANTITY_EPSILON
        )
        if reducing:
            return RiskVerdict(
                True,
                f"{order.action} {order.quantity} {order.symbol} reduces "
                f"the position of {held:g}: allowed",
            )
        what = f"{order.action} {order.quantity} {order.symbol}"
        if order.order_type is not OrderType.MARKET:
            what = f"{what} {order.order_type}"
            price = valuation_price(order.order_type, order.limit_price, order.stop_price, price)
        if price is None or not math.isfinite(price) or price <= 0:
            return RiskVerdict(False, f"no price to value {what}", RiskRule.NO_PRICE)
        notional = order.quantity * price
        if notional > limits.max_order_notional:
            return RiskVerdict(
                False,
                f"order {what} x {price:,.2f} = "
                f"{notional:,.2f} > max order notional {limits.max_order_notional:,.2f}",
                RiskRule.MAX_ORDER_NOTIONAL,
            )
        after = held + signed
        exposure = abs(after) * price
        cap = limits.max_position_pct * allocated_capital
        if exposure > cap:
            return RiskVerdict(
                False,
                f"position after order {after:g} {order.symbol} x {price:,.2f} = {exposure:,.2f} "
                f"> max {limits.max_position_pct:.1%} of capital {allocated_capital:,.2f} = "
                f"{cap:,.2f}",
                RiskRule.MAX_POSITION,
            )
        loss_limit = limits.daily_loss_limit_pct * allocated_capital
        if daily_pnl <= -loss_limit:
            return RiskVerdict(
                False,
                f"daily realized PnL {daily_pnl:,.2f} <= -{limits.daily_loss_limit_pct:.1%} of "
                f"capital {allocated_capital:,.2f} = {-loss_limit:,.2f}: no new entries today",
                RiskRule.DAILY_LOSS_LIMIT,
            )
        if worst_case_loss is not None and daily_pnl - worst_case_loss < -loss_limit:
            return RiskVerdict(
                False,
                f"bracket {what}: daily realized PnL {daily_pnl:,.2f} - worst case at the stop "
                f"{worst_case_loss:,.2f} = {daily_pnl - worst_case_loss:,.2f} < "
                f"-{limits.daily_loss_limit_pct:.1%} of capital {allocated_capital:,.2f} = "
                f"{-loss_limit:,.2f}",
                RiskRule.DAILY_LOSS_LIMIT,
            )
        if worst_case_loss is not None:
            what = f"bracket {what} (worst case {worst_case_loss:,.2f} at the stop)"
        return _new_verdict(True, f"{what} x {price:,.2f} = {notional:,.2f}: within every limit")

    def _check_mode(self, order: Order) -> RiskVerdict | None:
        """The rules that stop every order, whatever it does to the position."""
        if self.kill_switch.engaged():
            return RiskVerdict(
                False,
                f"{self.kill_switch.reason}: no new orders",
                RiskRule.KILL_SWITCH,
            )
        if self.read_only:
            return RiskVerdict(False, "read-only mode: no orders are sent", RiskRule.READ_ONLY)
        if not self.account:
            return RiskVerdict(
                False,
                "the broker has not named the account yet: no orders until it does",
                RiskRule.LIVE_ACCOUNT,
            )
        if not self.account.startswith(PAPER_ACCOUNT_PREFIX) and not self.allow_live:
            return RiskVerdict(
                False,
                f"account {mask_account(self.account)} is a live account (paper accounts start with "
                f"{PAPER_ACCOUNT_PREFIX}) and live trading is not enabled",
                RiskRule.LIVE_ACCOUNT,
            )
        halt = self._halted.get(order.symbol) or self._reconciliation_halts.get(order.symbol)
        if halt is not None:
            return RiskVerdict(False, f"{order.symbol} is halted: {halt}", RiskRule.SYMBOL_HALTED)
        return None
