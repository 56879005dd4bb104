"""Numbers as reasoning trails print them: short, with the magnitude a reader expects."""

from __future__ import annotations

__all__ = ["compact", "money", "pct", "quote_price"]

_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def compact(value: float) -> str:
    """``596_400_000_000`` -> ``"596.4B"``, ``2_840_000_000`` -> ``"2.84B"``; under 1,000: two decimals."""
    magnitude = abs(value)
    for scale, suffix in _SCALES:
        if magnitude >= scale:
            scaled = value / scale
            return f"{scaled:.2f}{suffix}" if abs(scaled) < 10 else f"{scaled:.1f}{suffix}"
    return f"{value:.2f}"


def money(value: float) -> str:
    """A price or an amount with thousands separators and cents: ``"25,200.00"``."""
    return f"{value:,.2f}"


def quote_price(value: float) -> str:
    """A price as the exchange quotes it: cents from $1.00 (``"9,990.50"``), else ``"0.1234"``."""
    return f"{value:,.2f}" if value >= 1.0 else f"{value:.4f}"


def pct(fraction: float) -> str:
    """A signed percentage from a fraction: ``0.021`` -> ``"+2.1%"``."""
    return f"{fraction * 100:+.1f}%"
