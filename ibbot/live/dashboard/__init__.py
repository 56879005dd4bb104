"""The dashboard: a page served by the running service, its JSON API and its live stream.

``GET /`` on the control endpoint (``app.control_port``; ``control.json`` says where) shows the
connection and the gateway, the account, each strategy's positions and P&L, today's P&L, a live
equity curve, the open orders (brackets with their protective children), the latest decisions
with their full reasoning (filterable), the risk blocks, the strategies (enable, disable) and the
kill switch (engage, release, each behind a confirmation). It updates itself from server-sent
events (:mod:`~ibbot.live.dashboard.feed`, :mod:`~ibbot.live.dashboard.stream`), and its files are
shipped in the package (``static/``: plain HTML, CSS and JavaScript; no CDN, no build step): it
works offline. Reading needs nothing on loopback; every action needs the run's token, given once in
the login form (:mod:`~ibbot.live.control.session`).
"""

from ibbot.live.dashboard.feed import FEED_EVENTS, DashboardFeed
from ibbot.live.dashboard.routes import DashboardTarget, dashboard_routes, load_assets
from ibbot.live.dashboard.views import book_view, decision_view, fill_view, orders_view

__all__ = [
    "FEED_EVENTS",
    "DashboardFeed",
    "DashboardTarget",
    "book_view",
    "dashboard_routes",
    "decision_view",
    "fill_view",
    "load_assets",
    "orders_view",
]
