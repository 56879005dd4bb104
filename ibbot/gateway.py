"""Which gateway a command talks to: the configured IB Gateway / TWS, or a simulated one started here.

With ``ib.simulate`` (the default) a :class:`~ibbot.sim.SimulatedGateway` is started in-process on a
free loopback port, from the ``[sim]`` settings, and closed when the command ends; its clock is the
market's clock (it may start at another instant and run faster than the wall clock). Otherwise the
target is ``ib.host:ib.port`` and the market runs on the wall clock. ``ibbot run``, ``ibbot check``,
``ibbot backfill`` and ``ibbot smoke`` all go through :func:`open_gateway`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from ibbot.clock import WallClock

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ibbot.clock import Clock
    from ibbot.settings import Settings, SimSettings
    from ibbot.sim import SimConfig, SimulatedGateway

__all__ = ["GatewayTarget", "open_gateway", "sim_config"]


class GatewayTarget:
    """Where the gateway listens, the clock its market runs on, and the simulator when embedded.

    ``time_scale`` is how many market seconds pass per wall second (pacing windows shrink with it).
    """

    __slots__ = ("host", "market_clock", "port", "simulator", "time_scale")

    def __init__(
        self,
        host: str,
        port: int,
        market_clock: Clock,
        *,
        simulator: SimulatedGateway | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.market_clock = market_clock
        self.simulator = simulator
        self.time_scale = time_scale

    def __repr__(self) -> str:
        kind = "embedded simulator" if self.embedded else "gateway"
        return f"GatewayTarget({kind} at {self.host}:{self.port})"

    @property
    def embedded(self) -> bool:
        """True when the gateway is a simulator started by this process (a new account each time)."""
        return self.simulator is not None


def sim_config(sim: SimSettings, *, control: bool, session: str = "") -> SimConfig:
    """The ``[sim]`` settings as an embedded simulator's configuration, always on a free port.

    ``control`` keeps the simulator's control interface (on ``sim.control_port``); without it the
    interface is off. ``session`` (the run's id) seeds its permIds and execIds: a new paper account
    every run, whose ids never repeat an earlier run's.
    """
    from ibbot.sim import SimConfig  # noqa: PLC0415 - the simulator loads only when simulating

    return SimConfig(
        host=sim.host,
        port=0,  # a private gateway: never collide with a running `ibbot sim`
        control_port=sim.control_port if control else None,
        seed=sim.seed,
        time_scale=sim.time_scale,
        start=sim.start,
        symbols=tuple(sim.symbols),
        unavailable_fundamentals=tuple(sim.unavailable_fundamentals),
        account=sim.account,
        starting_cash=sim.starting_cash,
        slippage_bps=sim.slippage_bps,
        strict_pacing=sim.strict_pacing,
        session=session,
    )


@asynccontextmanager
async def open_gateway(
    settings: Settings, *, control: bool = False, session: str = ""
) -> AsyncIterator[GatewayTarget]:
    """The configured gateway, or (``ib.simulate``) a simulated one running until the block ends.

    ``session`` is the embedded simulator's (see :func:`sim_config`).
    """
    if not settings.ib.simulate:
        yield GatewayTarget(settings.ib.host, settings.ib.port, WallClock())
        return
    from ibbot.sim import SimulatedGateway  # noqa: PLC0415 - only when simulating

    config = sim_config(settings.sim, control=control, session=session)
    async with SimulatedGateway(config) as simulator:
        yield GatewayTarget(
            simulator.host,
            simulator.port,
            simulator.clock,
            simulator=simulator,
            time_scale=settings.sim.time_scale,
        )
