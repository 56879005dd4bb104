"""Which request the simulated gateway answers how: the dispatch table, message id -> handler.

Requests the simulation implements go to the security-definition, data, order and account services.
Requests TWS knows but the simulation does not (market depth, scanners, news, options analytics, ...)
are answered with error 322 naming the request, on the request id when the message carries one, so a
client's pending request fails at once instead of timing out. Fire-and-forget messages the gateway has no use
for (log level, news bulletins, cancels of those unsupported subscriptions) are accepted silently.
A message id that is not part of the protocol at all is malformed input and closes the connection.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from ibbot.sim import messages as msg
from ibbot.sim.protocol import ErrorCode, In, error_text

if TYPE_CHECKING:
    from ibbot.sim.accounts import AccountBook
    from ibbot.sim.market_data import MarketDataService
    from ibbot.sim.orders import OrderDesk
    from ibbot.sim.ports import ClientPort, Handler
    from ibbot.sim.secdef import SecDefService
    from ibbot.sim.wire import FieldReader
    from ibbot.sim.world import World

__all__ = ["build_handlers"]

# Unsupported requests and the index of their request id (after the message id); None: no id.
_UNSUPPORTED: dict[In, int | None] = {
    In.REQ_MKT_DEPTH: 1,
    In.EXERCISE_OPTIONS: 1,
    In.REQ_SCANNER_SUBSCRIPTION: 0,
    In.REQ_SCANNER_PARAMETERS: None,
    In.REQ_FA: None,
    In.REPLACE_FA: None,
    In.REQ_CALC_IMPLIED_VOLAT: 1,
    In.REQ_CALC_OPTION_PRICE: 1,
    In.VERIFY_REQUEST: None,
    In.VERIFY_MESSAGE: None,
    In.QUERY_DISPLAY_GROUPS: 1,
    In.SUBSCRIBE_TO_GROUP_EVENTS: 1,
    In.UPDATE_DISPLAY_GROUP: 1,
    In.VERIFY_AND_AUTH_REQUEST: None,
    In.VERIFY_AND_AUTH_MESSAGE: None,
    In.REQ_SOFT_DOLLAR_TIERS: 0,
    In.REQ_FAMILY_CODES: None,
    In.REQ_MKT_DEPTH_EXCHANGES: None,
    In.REQ_SMART_COMPONENTS: 0,
    In.REQ_NEWS_ARTICLE: 0,
    In.REQ_NEWS_PROVIDERS: None,
    In.REQ_HISTORICAL_NEWS: 0,
    In.REQ_HISTOGRAM_DATA: 0,
    In.REQ_HISTORICAL_TICKS: 0,
    In.REQ_TICK_BY_TICK_DATA: 0,
    In.REQ_WSH_META_DATA: 0,
    In.REQ_WSH_EVENT_DATA: 0,
    In.REQ_USER_INFO: 0,
}
# Messages accepted without a reply: settings and cancels of subscriptions the sim never starts.
_IGNORED = frozenset(
    {
        In.CANCEL_MKT_DEPTH,
        In.REQ_NEWS_BULLETINS,
        In.CANCEL_NEWS_BULLETINS,
        In.SET_SERVER_LOGLEVEL,
        In.CANCEL_SCANNER_SUBSCRIPTION,
        In.CANCEL_CALC_IMPLIED_VOLAT,
        In.CANCEL_CALC_OPTION_PRICE,
        In.UNSUBSCRIBE_FROM_GROUP_EVENTS,
        In.CANCEL_HISTOGRAM_DATA,
        In.CANCEL_TICK_BY_TICK_DATA,
        In.CANCEL_WSH_META_DATA,
        In.CANCEL_WSH_EVENT_DATA,
    }
)


def _current_time(world: World, session: ClientPort, reader: FieldReader) -> None:
    """reqCurrentTime (49): the simulated clock's time in epoch seconds."""
    reader.integer()  # version
    session.send(msg.current_time(int(world.clock.now().timestamp())))


def _managed_accounts(world: World, session: ClientPort, reader: FieldReader) -> None:
    """reqManagedAccts (17): the one account the gateway manages."""
    reader.integer()  # version
    session.send(msg.managed_accounts([world.config.account]))


def _ignore(session: ClientPort, reader: FieldReader) -> None:
    """A message the gateway accepts and has nothing to say about."""
    del session, reader


def _unsupported(message: In, req_id_index: int | None) -> Handler:
    def handler(session: ClientPort, reader: FieldReader) -> None:
        req_id = -1
        if req_id_index is not None:
            reader.skip(req_id_index)
            req_id = reader.integer(default=-1)
        detail = f"{message.name} is not supported by the simulated gateway"
        session.send_error(
            req_id,
            ErrorCode.PROCESSING_ERROR,
            error_text(ErrorCode.PROCESSING_ERROR, detail=detail),
        )

    return handler


def build_handlers(
    world: World,
    data: MarketDataService,
    orders: OrderDesk,
    accounts: AccountBook,
    secdef: SecDefService,
) -> dict[int, Handler]:
    """The complete dispatch table for one gateway's services."""
    table: dict[int, Handler] = {
        In.REQ_CURRENT_TIME: functools.partial(_current_time, world),
        In.REQ_MANAGED_ACCTS: functools.partial(_managed_accounts, world),
        In.REQ_CONTRACT_DATA: secdef.req_contract_details,
        In.REQ_MARKET_RULE: secdef.req_market_rule,
        In.REQ_MATCHING_SYMBOLS: secdef.req_matching_symbols,
        In.REQ_SEC_DEF_OPT_PARAMS: secdef.req_sec_def_opt_params,
        In.REQ_HISTORICAL_DATA: data.req_historical_data,
        In.CANCEL_HISTORICAL_DATA: data.cancel_historical_data,
        In.REQ_HEAD_TIMESTAMP: data.req_head_timestamp,
        In.CANCEL_HEAD_TIMESTAMP: data.cancel_head_timestamp,
        In.REQ_MARKET_DATA_TYPE: data.req_market_data_type,
        In.REQ_MKT_DATA: data.req_mkt_data,
        In.CANCEL_MKT_DATA: data.cancel_mkt_data,
        In.REQ_REAL_TIME_BARS: data.req_real_time_bars,
        In.CANCEL_REAL_TIME_BARS: data.cancel_real_time_bars,
        In.REQ_FUNDAMENTAL_DATA: data.req_fundamental_data,
        In.CANCEL_FUNDAMENTAL_DATA: data.cancel_fundamental_data,
        In.PLACE_ORDER: orders.place_order,
        In.CANCEL_ORDER: orders.cancel_order,
        In.REQ_GLOBAL_CANCEL: orders.req_global_cancel,
        In.REQ_OPEN_ORDERS: orders.req_open_orders,
        In.REQ_ALL_OPEN_ORDERS: orders.req_all_open_orders,
        In.REQ_AUTO_OPEN_ORDERS: orders.req_auto_open_orders,
        In.REQ_COMPLETED_ORDERS: orders.req_completed_orders,
        In.REQ_EXECUTIONS: orders.req_executions,
        In.REQ_IDS: orders.req_ids,
        In.REQ_POSITIONS: accounts.req_positions,
        In.CANCEL_POSITIONS: accounts.cancel_positions,
        In.REQ_ACCT_DATA: accounts.req_account_updates,
        In.REQ_ACCOUNT_UPDATES_MULTI: accounts.req_account_updates_multi,
        In.CANCEL_ACCOUNT_UPDATES_MULTI: accounts.cancel_account_updates_multi,
        In.REQ_POSITIONS_MULTI: accounts.req_positions_multi,
        In.CANCEL_POSITIONS_MULTI: accounts.cancel_positions_multi,
        In.REQ_ACCOUNT_SUMMARY: accounts.req_account_summary,
        In.CANCEL_ACCOUNT_SUMMARY: accounts.cancel_account_summary,
        In.REQ_PNL: accounts.req_pnl,
        In.CANCEL_PNL: accounts.cancel_pnl,
        In.REQ_PNL_SINGLE: accounts.req_pnl_single,
        In.CANCEL_PNL_SINGLE: accounts.cancel_pnl_single,
    }
    for message, index in _UNSUPPORTED.items():
        table[message] = _unsupported(message, index)
    for message in _IGNORED:
        table[message] = _ignore
    return table
