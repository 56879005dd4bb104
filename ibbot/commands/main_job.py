"""``ibbot run`` (and plain ``ibbot``): the main job.

The main job is the orchestrator (``ibbot.app``): start the simulated gateway or connect to a real one,
collect, run the strategies, trade. Until it lands, this command does what it honestly can: the CLI has
already loaded and validated the settings and configured logging; this reports what would run and that
the orchestrator is not available yet. The orchestrator replaces this module's ``run`` in the CLI's
command table with its own ``run(args, settings) -> int``, typically
``return run_async(Orchestrator(settings).run())``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    import argparse

    from ibbot.settings import Settings

__all__ = ["run"]

log = structlog.get_logger(__name__)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Log the job the settings describe, and that the orchestrator to run it is not built yet."""
    del args
    log.info(
        "app.settings_loaded",
        files=[str(path) for path in settings.source_files],
        simulate=settings.ib.simulate,
        host=settings.ib.host,
        port=settings.ib.port,
        readonly=settings.ib.readonly,
        watchlist=settings.collector.watchlist,
        strategies=[strategy.name for strategy in settings.strategies if strategy.enabled],
        store=str(settings.store.path),
    )
    log.warning(
        "app.orchestrator_unavailable",
        detail="the main job (collect, run strategies, trade) is not implemented yet; nothing was run",
    )
    return 0
