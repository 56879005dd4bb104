"""Positions, account values and portfolio over the wire, for every kind of subscription IB offers.

A client can follow the account four ways: ``reqPositions`` (every position, then updates),
``reqAccountUpdates`` (account values plus a portfolio line per position, then updates; what
ib_async subscribes at connect), ``reqAccountUpdatesMulti`` / ``reqPositionsMulti`` (the same per
account and model), and ``reqAccountSummary`` (chosen tags). All are answered from the exchange's
books, marked at the simulated market's current prices. As with TWS, a fill pushes the changed
positions and portfolio lines at once, and account values (summary and multi included) are refreshed
every three minutes (simulated time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from ibbot.sim import messages as msg
from ibbot.sim.faults import EndMessage
from ibbot.sim.ibtime import EXCHANGE_ZONE

if TYPE_CHECKING:
    from ibbot.sim.ports import ClientPort
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = ["AccountBook"]

log = structlog.get_logger(__name__)

# Simulated seconds between unsolicited account/portfolio refreshes (TWS: about every 3 minutes).
REFRESH_INTERVAL = 180.0
# Keys IB reports without a currency (ratios and counts); every other key is money in USD.
_UNITLESS = frozenset({"Cushion", "Leverage", "DayTradesRemaining", "LookAheadNextChange"})
_ACCOUNT_TYPE = "INDIVIDUAL"


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

    def account_rows(self) -> list[tuple[str, str, str]]:
        """(key, value, currency) rows as IB reports them in account updates."""
        account = self.world.config.account
        rows = [
            ("AccountCode", account, ""),
            ("AccountType", _ACCOUNT_TYPE, ""),
            ("AccountReady", "true", ""),
            ("Currency", "USD", "USD"),
        ]
        values = self.world.exchange.account_values(self.marks())
        rows.extend(
            (key, _money(values[key]), "" if key in _UNITLESS else "USD") for key in sorted(values)
        )
        return rows

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
        for key, value, currency in self.account_rows():
            session.send(msg.account_value(key, value, currency, account))
        self._send_portfolio(session)
        local = self.world.clock.now().astimezone(EXCHANGE_ZONE)
        session.send(msg.account_update_time(f"{local:%H:%M}"))

    def _send_portfolio(self, session: ClientPort, symbols: set[str] | None = None) -> None:
        account = self.world.config.account
        for item in self.world.exchange.portfolio(self.marks()):
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
        for key, value, currency in self.account_rows():
            session.send(
                msg.account_update_multi(
                    req_id,
                    account=account,
                    model_code=model_code,
                    key=key,
                    value=value,
                    currency=currency,
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
        rows = {key: (value, currency) for key, value, currency in self.account_rows()}
        for tag in tags:
            if tag in rows:
                value, currency = rows[tag]
                session.send(msg.account_summary(req_id, account, tag, value, currency))

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
            for key, value, currency in self.account_rows():
                session.send(msg.account_value(key, value, currency, account))
            self._send_portfolio(session)
        for req_id, model in session.account_multi.items():
            self._send_multi(session, req_id, model)
        for req_id, tags in session.account_summary.items():
            self._send_summary(session, req_id, tags)

    async def run(self) -> None:
        """Refresh every subscriber's account and portfolio values every three simulated minutes."""
        clock = self.world.clock
        while True:
            await clock.sleep(REFRESH_INTERVAL)
            for session in self.world.clients.api_sessions():
                self.refresh(session)


def _money(value: float) -> str:
    return f"{value:.2f}"
