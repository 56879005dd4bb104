"""The TWS protocol versions the simulated gateway speaks, and what changes between them.

A client opens with ``v<min>..<max>``; the gateway answers one version and both sides then write
and read every message at it. The gateway speaks :data:`MIN_SERVER_VERSION` ..
:data:`MAX_SERVER_VERSION` and answers, as IB Gateway does, the highest version both sides speak
(:func:`negotiate`). Each message layout that differs inside that range is written once, with the
fields that come or go marked :func:`since` / :func:`until` a :class:`Feature` (the session resolves
the marks at its negotiated version when it encodes); request parsers test
``session.server_version >= Feature.X``. Every field whose presence depends on the version, for the
messages the gateway sends or parses, read from IB's ``ibapi`` (``server_versions.py``,
``decoder.py``, ``orderdecoder.py``, ``client.py``) and checked against ib_async 2.1 and ib_insync
0.9.86 (which offers 157..176):

=======  ==============================  ==================================================
version  message (direction)             field
=======  ==============================  ==================================================
158      openOrder (out), placeOrder     ``duration`` after ``usePriceMgmtAlgo``
         (in)
160      openOrder, placeOrder           ``postToAts``
162      openOrder, placeOrder           ``autoCancelParent`` (completedOrder always has it)
163      contractData (out)              ``sizeMinTick`` after ``stockType`` (163 only)
164      contractData                    no version field after the message id, no
                                         ``mdSizeMultiplier`` after ``minTick``; ``minSize``,
                                         ``sizeIncrement``, ``suggestedSizeIncrement`` last
166      error (out)                     ``advancedOrderRejectJson`` last
166      placeOrder (in)                 ``advancedErrorOverride``
169      placeOrder, cancelOrder (in)    ``manualOrderTime`` / ``manualOrderCancelTime``
170      openOrder, completedOrder       five PEG BEST/MID fields last (``minTradeQty`` ..
                                         ``midOffsetAtHalf``)
170      placeOrder                      those fields, for IBKRATS / PEG BEST / PEG MID only
176      reqContractDetails (in)         ``issuerId`` last
176      symbolSamples (out)             ``description``, ``issuerId`` after each derivative
                                         sec-type list
177      openOrder, completedOrder,      ``faProfile`` after ``faPercentage`` removed
         placeOrder
178      execDetails (out)               ``pendingPriceRevision`` last
=======  ==============================  ==================================================

Two version steps change units, not fields, and the simulator does not apply them: from 159
(``MARKET_DATA_IN_SHARES``) live US-stock sizes are in shares, from 175
(``HMDS_MARKET_DATA_IN_SHARES``) historical ones too; before that IB sent round lots. The sim sends
shares at every version (a client that negotiates below 159 is rare: every current one offers up to
176 or later). Every other message the sim sends or parses has the same layout from 157 to 178.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

__all__ = [
    "MAX_SERVER_VERSION",
    "MIN_SERVER_VERSION",
    "Feature",
    "Negotiation",
    "Versioned",
    "negotiate",
    "since",
    "until",
]

# The oldest version the gateway encodes: ib_async's and ib_insync's MinClientVersion, and the
# lowest that all three reference clients (ib_async, ib_insync, ibapi) speak.
MIN_SERVER_VERSION = 157
# The newest: ib_async 2.1's MaxClientVersion. Above it IB's messages turn to protobuf (201) and
# many layouts grow fields the simulator has no model for.
MAX_SERVER_VERSION = 178


class Feature(IntEnum):
    """The server version at which a field appears (or, for FA_PROFILE_DESUPPORT, disappears).

    Names are IB's ``MIN_SERVER_VER_*`` constants without the prefix.
    """

    DURATION = 158
    MARKET_DATA_IN_SHARES = 159
    POST_TO_ATS = 160
    AUTO_CANCEL_PARENT = 162
    FRACTIONAL_SIZE_SUPPORT = 163
    SIZE_RULES = 164
    ADVANCED_ORDER_REJECT = 166
    MANUAL_ORDER_TIME = 169
    PEGBEST_PEGMID_OFFSETS = 170
    HMDS_MARKET_DATA_IN_SHARES = 175
    BOND_ISSUERID = 176
    FA_PROFILE_DESUPPORT = 177
    PENDING_PRICE_REVISION = 178


@dataclass(frozen=True, slots=True)
class Versioned:
    """An outgoing field present only at versions ``since <= v < until`` (either bound optional)."""

    value: object
    since: int | None = None
    until: int | None = None

    def present_at(self, version: int) -> bool:
        """True when the field is part of the message at ``version``."""
        if self.since is not None and version < self.since:
            return False
        return self.until is None or version < self.until


def since(feature: Feature, value: object) -> Versioned:
    """A field IB added at ``feature``'s version."""
    return Versioned(value, since=int(feature))


def until(feature: Feature, value: object) -> Versioned:
    """A field IB dropped at ``feature``'s version."""
    return Versioned(value, until=int(feature))


@dataclass(frozen=True, slots=True)
class Negotiation:
    """The gateway's answer to a client's version range.

    ``version`` is what the gateway announces; ``refusal`` is None when the client's range holds
    it, else which side is too old: ``"server"`` for a client that needs a newer gateway,
    ``"client"`` for one that speaks only versions older than the gateway's oldest.
    """

    version: int
    refusal: Literal["server", "client"] | None = None

    @property
    def accepted(self) -> bool:
        """True when the session goes on at ``version``."""
        return self.refusal is None


def negotiate(client_min: int, client_max: int) -> Negotiation:
    """The highest version both sides speak, or the refusal for a range with none in common.

    IB Gateway answers every handshake with a version and leaves judging it to the client: IB's
    own clients (Java, C++, C#) report 506 "Unsupported Version" and disconnect when the answer
    lies outside their range, ib_async and ib_insync stop with "TWS/gateway version must be >=
    972" when it is below theirs. So for a range with nothing in common the gateway still
    announces the version nearest to it (its newest for a newer client, its oldest for an older
    one) and then refuses the session itself, for clients that do not check.
    """
    if client_min > MAX_SERVER_VERSION:
        return Negotiation(MAX_SERVER_VERSION, "server")
    if client_max < MIN_SERVER_VERSION:
        return Negotiation(MIN_SERVER_VERSION, "client")
    return Negotiation(min(client_max, MAX_SERVER_VERSION))
