"""Running a symbol's data through a strategy's layers, accumulating the reasoning trail."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ibbot.strategies.base import StrategyLayer

__all__ = ["FAILED_LAYER_KEY", "LAYER_SEPARATOR", "StrategyPipeline", "append_step", "format_step"]

FAILED_LAYER_KEY = "failed_layer"
"""Set in the final data of a failed run: the name of the layer that stopped it."""

LAYER_SEPARATOR = " | "
"""Between the layers of a reasoning trail (a trail is one line, so a console can print it)."""


def format_step(layer: str, passed: bool, reasoning: str) -> str:
    """One layer's entry in a trail: ``"valuation PASS: P/E 11.3 < 20.0"``."""
    return f"{layer} {'PASS' if passed else 'FAIL'}: {reasoning}"


def append_step(reasoning: str, layer: str, passed: bool, text: str) -> str:
    """``reasoning`` with one more entry, for conclusions a strategy draws after its pipeline ran."""
    step = format_step(layer, passed, text)
    return f"{reasoning}{LAYER_SEPARATOR}{step}" if reasoning else step


class StrategyPipeline:
    """Layers applied in order to one symbol's data; the first layer that fails stops the run.

    Each layer sees the data enriched by the layers before it: whatever a layer returns in
    ``LayerResult.data`` is merged into the working dict (a layer may also add to the dict it is
    given). The caller's dict is never modified. A failed run's data names the layer that stopped it
    under :data:`FAILED_LAYER_KEY`.
    """

    __slots__ = ("_layers",)

    def __init__(self, layers: Sequence[StrategyLayer]) -> None:
        if not layers:
            raise ValueError("a strategy pipeline needs at least one layer")
        self._layers = tuple(layers)

    @property
    def layers(self) -> tuple[StrategyLayer, ...]:
        """The layers, in the order they run."""
        return self._layers

    def run(self, symbol: str, initial_data: Mapping[str, Any]) -> tuple[bool, dict[str, Any], str]:
        """Run every layer until one fails.

        Returns ``(passed_all, final_data, reasoning)`` where ``reasoning`` holds one
        :func:`format_step` entry per layer that ran, joined by :data:`LAYER_SEPARATOR`.
        """
        data = dict(initial_data)
        steps: list[str] = []
        for layer in self._layers:
            result = layer.process(symbol, data)
            if result.data is not data:
                data.update(result.data)
            steps.append(format_step(layer.name, result.passed, result.reasoning))
            if not result.passed:
                data[FAILED_LAYER_KEY] = layer.name
                return False, data, LAYER_SEPARATOR.join(steps)
        return True, data, LAYER_SEPARATOR.join(steps)
