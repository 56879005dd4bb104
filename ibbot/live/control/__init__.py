"""The running service's control endpoint: a few JSON requests over HTTP on loopback.

``GET /status``, ``POST /strategies`` (hot add), ``DELETE /strategies/<name>`` (hot remove) and
``POST /stop`` (:mod:`~ibbot.live.control.routes`), and the dashboard's page, stream, actions and
``/metrics`` behind the same gate (:mod:`ibbot.live.dashboard`). It listens on 127.0.0.1, on
``app.control_port`` (0: a free port; another address only with ``app.control_remote``, and then
every request needs the token), and while it runs ``<store.path>/control.json`` says where
and ``<store.path>/control.token`` holds the run's token, both readable by their owner only
(:mod:`~ibbot.live.control.files`); ``ibbot strategies`` reads both. Every request that changes
something must carry the token; the gate (:mod:`~ibbot.live.control.guard`) also refuses foreign
``Host`` and ``Origin`` headers and non-JSON bodies, bounds bodies in size and JSON depth
(:mod:`~ibbot.live.control.bounded`) and turns whatever a request raises into its answer.

The stack is Starlette served by uvicorn, on ibbot's own event loop inside the orchestrator's task
group (:mod:`~ibbot.live.control.server`), with uvicorn's signal handlers and lifespan off. Why:
the HTTP parsing is a maintained library's (h11) rather than ours; ASGI is the standard interface,
so routes, middleware, HTML pages and server-sent events (Starlette's ``StreamingResponse``) are
there for the dashboard to come, and the application can be tested without a socket. aiohttp
would do as well; Starlette keeps the application independent of the server that runs it.

HTTP rather than a watched file: a request gets an answer (the strategy was added, or why not) and
nothing has to be polled. The simulated gateway has a control interface of its own; this one is
separate on purpose: the simulator is a peer that shares nothing with the client side.
"""

from ibbot.live.control.files import (
    CONTROL_FILE,
    TOKEN_FILE,
    ControlEndpoint,
    read_control_file,
)
from ibbot.live.control.routes import ControlTarget, control_app
from ibbot.live.control.server import ControlServer

__all__ = [
    "CONTROL_FILE",
    "TOKEN_FILE",
    "ControlEndpoint",
    "ControlServer",
    "ControlTarget",
    "control_app",
    "read_control_file",
]
