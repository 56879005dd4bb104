"""Parameter sweeps and walk-forward analysis: many backtests of one strategy, run as Ray tasks.

:mod:`~ibbot.sweep.space` parses ``--grid`` and draws the parameter sets, :mod:`~ibbot.sweep.windows`
cuts walk-forward folds, :mod:`~ibbot.sweep.task` runs one backtest (pure, no Ray),
:mod:`~ibbot.sweep.ray_runner` runs the tasks on a local Ray or a cluster,
:mod:`~ibbot.sweep.sweep` plans, ranks and picks, :mod:`~ibbot.sweep.outputs` writes the files.
"""

from ibbot.sweep.outputs import SweepFiles, write_sweep
from ibbot.sweep.ray_runner import RayRunner, RayUnavailable, ray_session
from ibbot.sweep.space import Dimension, ParameterSpace, parse_dimension
from ibbot.sweep.sweep import RANKING_METRICS, SweepPlan, SweepResult, rank_rows, run_sweep
from ibbot.sweep.task import METRICS, Job, run_job
from ibbot.sweep.windows import Fold, Span, folds, parse_walk_forward

__all__ = [
    "METRICS",
    "RANKING_METRICS",
    "Dimension",
    "Fold",
    "Job",
    "ParameterSpace",
    "RayRunner",
    "RayUnavailable",
    "Span",
    "SweepFiles",
    "SweepPlan",
    "SweepResult",
    "folds",
    "parse_dimension",
    "parse_walk_forward",
    "rank_rows",
    "ray_session",
    "run_job",
    "run_sweep",
    "write_sweep",
]
