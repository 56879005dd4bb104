"""The shared world the simulator's services work in, handed to each of them by the hub.

One market, one exchange, one clock, the contracts, pacing and fault state, and the directory of
connected clients: everything a service needs, injected, so no service reaches for the hub or a
session.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibbot.clock import Clock
from ibbot.exchange import Exchange
from ibbot.sim.config import SimConfig
from ibbot.sim.contracts import ContractBook
from ibbot.sim.faults import FaultState
from ibbot.sim.market import MarketSimulator
from ibbot.sim.pacing import RequestPacer
from ibbot.sim.ports import ClientDirectory

__all__ = ["World"]


@dataclass(frozen=True, slots=True)
class World:
    """What the services share; built once per gateway, it outlives every connection."""

    config: SimConfig
    clock: Clock
    contracts: ContractBook
    market: MarketSimulator
    exchange: Exchange
    pacer: RequestPacer
    faults: FaultState
    clients: ClientDirectory
