"""The security-definition requests: contract details, market rules, symbol search, option chains.

IB serves these from its "sec-def" farm, not from market data: they describe what a contract is and
how it trades. Answers follow IB's for a US stock (see :mod:`ibbot.sim.stock_rules`). The simulated
world has no options, so reqSecDefOptParams answers an underlying it knows with no option chains,
only the end marker (what IB sends for a stock without listed options), and one it does not know
with error 200.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from ibbot.sim import messages as msg
from ibbot.sim.protocol import ErrorCode, error_text
from ibbot.sim.requests import ContractSpec, read_contract
from ibbot.sim.stock_rules import MARKET_RULES
from ibbot.sim.versions import Feature

if TYPE_CHECKING:
    from ibbot.sim.contracts import Resolved
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = ["CONTRACT_DETAILS_DAYS", "SecDefService"]

log = structlog.get_logger(__name__)

# Contract details list the trading hours of this many days, from today (IB sends about a week).
CONTRACT_DETAILS_DAYS = 7


class SecDefService:
    """Handlers for the security-definition requests (stateless: every answer comes at once)."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _resolve_or_200(
        self, session: ClientPort, req_id: int, spec: ContractSpec
    ) -> Resolved | None:
        resolved = self.world.contracts.resolve(spec)
        if resolved is None:
            session.send_error(req_id, ErrorCode.NO_SECURITY_DEFINITION)
            log.info("sim.secdef.unknown_contract", req_id=req_id, contract=spec.describe())
        return resolved

    def req_contract_details(self, session: ClientPort, reader: FieldReader) -> None:
        """reqContractDetails (9): one contractData per match, then contractDataEnd; 200 if none."""
        reader.integer()  # version
        req_id = reader.integer()
        spec = read_contract(reader)
        reader.skip(3)  # includeExpired, secIdType, secId
        if session.server_version >= Feature.BOND_ISSUERID:
            reader.text()  # issuerId
        resolved = self._resolve_or_200(session, req_id, spec)
        if resolved is None:
            return
        today = self.world.market.calendar.exchange_date(self.world.clock.now())
        trading, liquid = self.world.market.trading_hours(
            resolved.security.symbol, today, CONTRACT_DETAILS_DAYS
        )
        session.send(
            msg.contract_details(
                req_id,
                resolved.security,
                exchange=resolved.exchange,
                trading_hours=trading,
                liquid_hours=liquid,
            )
        )
        session.send(msg.contract_details_end(req_id))

    def req_market_rule(self, session: ClientPort, reader: FieldReader) -> None:
        """reqMarketRule (91): the price increments a rule id of the contract details stands for."""
        rule_id = reader.integer()
        increments = MARKET_RULES.get(rule_id)
        if increments is None:
            session.send_error(
                -1,
                ErrorCode.VALIDATION_ERROR,
                error_text(ErrorCode.VALIDATION_ERROR, detail=f"unknown market rule {rule_id}"),
            )
            return
        session.send(msg.market_rule(rule_id, increments))

    def req_matching_symbols(self, session: ClientPort, reader: FieldReader) -> None:
        """reqMatchingSymbols (81): stocks whose ticker or name matches the pattern (up to 16)."""
        req_id = reader.integer()
        pattern = reader.text()
        session.send(msg.symbol_samples(req_id, self.world.contracts.matching(pattern)))

    def req_sec_def_opt_params(self, session: ClientPort, reader: FieldReader) -> None:
        """reqSecDefOptParams (78): no option chains exist here; the end marker, or 200."""
        req_id = reader.integer()
        symbol = reader.text()
        reader.text()  # futFopExchange: which exchanges' chains; there are none
        sec_type = reader.text()
        con_id = reader.integer(default=0)
        spec = ContractSpec(
            con_id=con_id,
            symbol=symbol,
            sec_type=sec_type,
            last_trade_date="",
            strike=None,
            right="",
            multiplier="",
            exchange="",
            primary_exchange="",
            currency="",
            local_symbol="",
            trading_class="",
        )
        if self._resolve_or_200(session, req_id, spec) is not None:
            session.send(msg.security_definition_option_parameter_end(req_id))
