"""A simulated IB Gateway speaking the TWS socket protocol (server versions 157..178, negotiated).

``SimulatedGateway`` serves unmodified TWS API clients (ib_async, IB's ``ibapi``) from a seeded
simulated market (:mod:`ibbot.sim.market`), the matching engine (:mod:`ibbot.exchange`) and
generated fundamentals (:mod:`ibbot.sim.fundamentals`), with pacing enforcement, fault injection
and a JSON control interface. ``SimConfig`` says where it listens and what world it simulates.

The names are imported on first use, so importing one part of the simulator (its market, say) does
not load the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ibbot.sim.config import SimConfig
    from ibbot.sim.gateway import SimulatedGateway

__all__ = ["SimConfig", "SimulatedGateway"]


def __getattr__(name: str) -> Any:
    if name == "SimConfig":
        from ibbot.sim.config import SimConfig  # noqa: PLC0415 - deferred on purpose (see above)

        return SimConfig
    if name == "SimulatedGateway":
        from ibbot.sim.gateway import SimulatedGateway  # noqa: PLC0415 - deferred on purpose

        return SimulatedGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
