"""Positions, account values, portfolio and P&L over the wire, for every subscription IB offers.

A client can follow the account five ways: ``reqPositions`` (every position, then updates),
``reqAccountUpdates`` (account values plus a portfolio line per position, then updates; what
ib_async subscribes at connect), ``reqAccountUpdatesMulti`` / ``reqPositionsMulti`` (the same per
account and model), ``reqAccountSummary`` (chosen tags), and ``reqPnL`` / ``reqPnLSingle`` (the
account's or one position's daily, unrealized and realized P&L). All are answered from the exchange's
books, marked at the simulated market's current prices, with the previous regular close as the
reference of the daily P&L. As with TWS, a fill pushes the changed positions and portfolio lines at
once, account values (summary and multi included) are refreshed every three minutes (simulated
time), and P&L streams are checked about once a second and sent when they changed. Which keys and
tags go out, in which currency: :mod:`ibbot.sim.account_keys`; their formulas:
:mod:`ibbot.exchange.account`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from ibbot.exchange.ledger import trading_day
from ibbot.sim import messages as msg
from ibbot.sim.account_keys import AccountRow, summary_rows, update_rows
from ibbot.sim.faults import EndMessage
from ibbot.sim.ibtime import EXCHANGE_ZONE
from ibbot.sim.market_data import MIN_WALL_INTERVAL
from ibbot.sim.protocol import ErrorCode, error_text

if TYPE_CHECKING:
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = ["AccountBook"]

log = structlog.get_logger(__name__)

# Simulated seconds between unsolicited account/portfolio refreshes (TWS: about every 3 minutes).
REFRESH_INTERVAL = 180.0
# Simulated seconds between P&L checks (IB sends reqPnL / reqPnLSingle updates about once a second).
PNL_INTERVAL = 1.0
# The account's base currency, the only one it holds (simulated securities are US stocks).
_CURRENCY = "USD"
# IB's short request tag inside 321 texts for a P&L request with an account it does not manage.
_PNL_TAG = "cq"


class AccountBook:
    """Answers the account requests and pushes updates to the sessions that subscribed."""

    def __init__(self, world: World) -> None:
        self.world = world

    # ---------------------------------------------------------------- data

    def marks(self) -> dict[str, float]:
        """Current market price of every symbol the account holds."""
        now = self.world.clock.now()
        return {
            p.symbol: self.world.market.price(p.symbol, now)
            for p in self.world.exchange.positions()
        }

    def closes(self) -> dict[str, float]:
        """The previous regular close of every symbol traded: the daily P&L's reference price."""
        calendar = self.world.market.calendar
        day = calendar.previous_trading_day(trading_day(self.world.clock.now()))
        session = calendar.session(day)
        assert session is not None  # a trading day has a session
        return {
            p.symbol: self.world.market.price(p.symbol, session.close)
            for p in self.world.exchange.positions()
        }

    def values(self) -> dict[str, float]:
        """The account tags now (this also moves the books to the current trading day)."""
        return self.world.exchange.account_values(
            self.marks(), self.world.clock.now(), self.closes()
        )

    def account_rows(self) -> list[AccountRow]:
        """Every key reqAccountUpdates sends, as IB lays them out."""
        return update_rows(self.values(), self.world.config.account, _CURRENCY)

    def _positions(self) -> list[tuple[str, float, float]]:
        """(symbol, quantity, average cost) of every position, including ones closed today."""
        return [(p.symbol, p.quantity, p.avg_cost) for p in self.world.exchange.positions()]

    # ---------------------------------------------------------------- handlers

    def req_positions(self, session: ClientPort, reader: FieldReader) -> None:
        """reqPositions (61): every position, positionEnd, then updates until cancelPositions."""
        reader.integer()  # version
        session.positions_subscribed = True
        account = self.world.config.account
        for symbol, quantity, avg_cost in self._positions():
            security = self.world.contracts.by_symbol(symbol)
            if security is not None:
                session.send(msg.position(account, security, quantity, avg_cost))
        if not self.world.faults.withholds(EndMessage.POSITION_END):
            session.send(msg.position_end())

    def cancel_positions(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelPositions (64)."""
        reader.integer()  # version
        session.positions_subscribed = False

    def req_account_updates(self, session: ClientPort, reader: FieldReader) -> None:
        """reqAccountUpdates (6): values and portfolio, accountDownloadEnd, then updates."""
        reader.integer()  # version
        subscribe = reader.flag()
        reader.optional_text()  # account code: the gateway manages exactly one account
        session.account_updates_subscribed = subscribe
        if not subscribe:
            return
        self._send_account_download(session)
        if not self.world.faults.withholds(EndMessage.ACCOUNT_DOWNLOAD_END):
            session.send(msg.account_download_end(self.world.config.account))

    def _send_account_download(self, session: ClientPort) -> None:
        account = self.world.config.account
        for row in self.account_rows():
            session.send(msg.account_value(row.key, row.value, row.currency, account))
        self._send_portfolio(session)
        local = self.world.clock.now().astimezone(EXCHANGE_ZONE)
        session.send(msg.account_update_time(f"{local:%H:%M}"))

    def _send_portfolio(self, session: ClientPort, symbols: set[str] | None = None) -> None:
        account = self.world.config.account
        portfolio = self.world.exchange.portfolio(self.marks(), self.world.clock.now())
        for item in portfolio:
            if symbols is not None and item.symbol not in symbols:
                continue
            security = self.world.contracts.by_symbol(item.symbol)
            if security is None:
                continue
            session.send(
                msg.portfolio_value(
                    security=security,
                    quantity=item.position,
                    market_price=item.market_price,
                    market_value=item.market_value,
                    avg_cost=item.average_cost,
                    unrealized_pnl=item.unrealized_pnl,
                    realized_pnl=item.realized_pnl,
                    account=account,
                )
            )

    def req_account_updates_multi(self, session: ClientPort, reader: FieldReader) -> None:
        """reqAccountUpdatesMulti (76): values for one account/model, End, then updates."""
        reader.integer()  # version
        req_id = reader.integer()
        reader.text()  # account ("" or "All" or the one account the gateway manages)
        model_code = reader.text()
        reader.optional_text()  # ledgerAndNLV
        session.account_multi[req_id] = model_code
        self._send_multi(session, req_id, model_code)
        if not self.world.faults.withholds(EndMessage.ACCOUNT_UPDATE_MULTI_END):
            session.send(msg.account_update_multi_end(req_id))

    def _send_multi(self, session: ClientPort, req_id: int, model_code: str) -> None:
        account = self.world.config.account
        for row in self.account_rows():
            session.send(
                msg.account_update_multi(
                    req_id,
                    account=account,
                    model_code=model_code,
                    key=row.key,
                    value=row.value,
                    currency=row.currency,
                )
            )

    def cancel_account_updates_multi(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelAccountUpdatesMulti (77)."""
        reader.integer()  # version
        session.account_multi.pop(reader.integer(), None)

    def req_positions_multi(self, session: ClientPort, reader: FieldReader) -> None:
        """reqPositionsMulti (74): positions for one account/model, End, then updates."""
        reader.integer()  # version
        req_id = reader.integer()
        reader.text()  # account
        model_code = reader.text()
        session.positions_multi[req_id] = model_code
        account = self.world.config.account
        for symbol, quantity, avg_cost in self._positions():
            security = self.world.contracts.by_symbol(symbol)
            if security is not None:
                session.send(
                    msg.position_multi(
                        req_id,
                        account=account,
                        model_code=model_code,
                        security=security,
                        quantity=quantity,
                        avg_cost=avg_cost,
                    )
                )
        session.send(msg.position_multi_end(req_id))

    def cancel_positions_multi(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelPositionsMulti (75)."""
        reader.integer()  # version
        session.positions_multi.pop(reader.integer(), None)

    def req_account_summary(self, session: ClientPort, reader: FieldReader) -> None:
        """reqAccountSummary (62): the requested tags, accountSummaryEnd, then updates."""
        reader.integer()  # version
        req_id = reader.integer()
        reader.text()  # group ("All")
        tags = tuple(t.strip() for t in reader.text().split(",") if t.strip())
        session.account_summary[req_id] = tags
        self._send_summary(session, req_id, tags)
        session.send(msg.account_summary_end(req_id))

    def _send_summary(self, session: ClientPort, req_id: int, tags: tuple[str, ...]) -> None:
        account = self.world.config.account
        for row in summary_rows(tags, self.values(), account, _CURRENCY):
            session.send(msg.account_summary(req_id, account, row.key, row.value, row.currency))

    def cancel_account_summary(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelAccountSummary (63)."""
        reader.integer()  # version
        session.account_summary.pop(reader.integer(), None)

    # ---------------------------------------------------------------- publication

    def publish(self, changed_symbols: set[str]) -> None:
        """After fills: push the changed positions and portfolio lines to every subscriber.

        Account values are not pushed here: TWS sends them with its periodic refresh (every three
        minutes), while position changes reach the portfolio and position subscribers at once.
        """
        account = self.world.config.account
        positions = {s: (q, c) for s, q, c in self._positions() if s in changed_symbols}
        for symbol in changed_symbols:
            positions.setdefault(symbol, (0.0, 0.0))
        for session in self.world.clients.api_sessions():
            for symbol, (quantity, avg_cost) in sorted(positions.items()):
                security = self.world.contracts.by_symbol(symbol)
                if security is None:
                    continue
                if session.positions_subscribed:
                    session.send(msg.position(account, security, quantity, avg_cost))
                for req_id, model in session.positions_multi.items():
                    session.send(
                        msg.position_multi(
                            req_id,
                            account=account,
                            model_code=model,
                            security=security,
                            quantity=quantity,
                            avg_cost=avg_cost,
                        )
                    )
            if session.account_updates_subscribed:
                self._send_portfolio(session, changed_symbols)

    def refresh(self, session: ClientPort) -> None:
        """Resend account values, the whole portfolio and summary/multi values to one session."""
        if session.account_updates_subscribed:
            account = self.world.config.account
            for row in self.account_rows():
                session.send(msg.account_value(row.key, row.value, row.currency, account))
            self._send_portfolio(session)
        for req_id, model in session.account_multi.items():
            self._send_multi(session, req_id, model)
        for req_id, tags in session.account_summary.items():
            self._send_summary(session, req_id, tags)

    async def run(self) -> None:
        """Refresh every subscriber's account and portfolio values every three simulated minutes.

        The books are valued at each refresh whether anyone subscribed or not, so they move to a
        new trading day (and raise the SMA to the previous close) on the simulated clock.
        """
        clock = self.world.clock
        while True:
            self.values()
            await clock.sleep(REFRESH_INTERVAL)
            for session in self.world.clients.api_sessions():
                self.refresh(session)

    # ---------------------------------------------------------------- P&L

    def req_pnl(self, session: ClientPort, reader: FieldReader) -> None:
        """reqPnL (92): the account's daily, unrealized and realized P&L, then its changes."""
        req_id = reader.integer()
        account = reader.text()
        reader.text()  # modelCode: the one account has no models
        if self._invalid_account(session, req_id, account):
            return
        session.start_stream(("pnl", req_id), self._pnl_stream(session, req_id, None))

    def cancel_pnl(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelPnL (93): stop a reqPnL stream (an unknown id is ignored, as by IB)."""
        session.stop_stream(("pnl", reader.integer()))

    def req_pnl_single(self, session: ClientPort, reader: FieldReader) -> None:
        """reqPnLSingle (94): one position's P&L and value by conId, then its changes.

        A conId that names no security gets IB's 200; a security the account never traded streams
        a zero position with its realized P&L unset.
        """
        req_id = reader.integer()
        account = reader.text()
        reader.text()  # modelCode
        con_id = reader.integer(default=0)
        if self._invalid_account(session, req_id, account):
            return
        security = self.world.contracts.universe.by_con_id(con_id)
        if security is None:
            session.send_error(req_id, ErrorCode.NO_SECURITY_DEFINITION)
            log.info("sim.accounts.pnl_unknown_con_id", req_id=req_id, con_id=con_id)
            return
        session.start_stream(
            ("pnl_single", req_id), self._pnl_stream(session, req_id, security.symbol)
        )

    def cancel_pnl_single(self, session: ClientPort, reader: FieldReader) -> None:
        """cancelPnLSingle (95): stop a reqPnLSingle stream (an unknown id is ignored)."""
        session.stop_stream(("pnl_single", reader.integer()))

    def _invalid_account(self, session: ClientPort, req_id: int, account: str) -> bool:
        """Answer IB's 321 for an account this gateway does not manage ("All" included)."""
        if account == self.world.config.account:
            return False
        session.send_error(
            req_id,
            ErrorCode.VALIDATION_ERROR,
            error_text(ErrorCode.VALIDATION_ERROR, tag=_PNL_TAG, detail="Invalid account code"),
        )
        log.info("sim.accounts.pnl_invalid_account", req_id=req_id)
        return True

    def pnl_message(self, req_id: int, symbol: str | None) -> msg.Fields:
        """The pnl (``symbol`` None) or pnlSingle message for the books now."""
        marks, closes, now = self.marks(), self.closes(), self.world.clock.now()
        exchange = self.world.exchange
        if symbol is not None:
            line = exchange.position_pnl(symbol, marks, closes, now)
            return msg.pnl_single(
                req_id,
                position=line.position,
                daily=line.daily,
                unrealized=line.unrealized,
                realized=line.realized,
                value=line.value,
            )
        lines = exchange.pnl(marks, closes, now)
        return msg.pnl(
            req_id,
            sum(line.daily for line in lines),
            sum(line.unrealized for line in lines),
            sum(line.realized or 0.0 for line in lines),
        )

    async def _pnl_stream(self, session: ClientPort, req_id: int, symbol: str | None) -> None:
        """Send the P&L at once, then again whenever a check finds it changed."""
        clock = self.world.clock
        interval = max(PNL_INTERVAL, MIN_WALL_INTERVAL * self.world.config.time_scale)
        sent: msg.Fields | None = None
        while True:
            fields = self.pnl_message(req_id, symbol)
            if fields != sent:
                session.send(fields)
                sent = fields
            await clock.sleep(interval)
