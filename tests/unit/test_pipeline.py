"""StrategyPipeline: order, stop at the first failure, reasoning trail, data enrichment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ibbot.models import LayerResult
from ibbot.strategies import (
    FAILED_LAYER_KEY,
    LAYER_SEPARATOR,
    StrategyPipeline,
    append_step,
    format_step,
)


@dataclass
class RecordingLayer:
    """A layer that records its calls, passes or fails as told, and adds one key."""

    name: str
    passes: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        self.calls.append(dict(data))
        return LayerResult(self.passes, {self.name: len(data)}, f"{self.name} saw {symbol}")


def test_all_layers_pass_in_order_and_reasoning_accumulates() -> None:
    """Every layer runs in order; the trail names each layer with PASS and its words."""
    layers = [RecordingLayer("first"), RecordingLayer("second"), RecordingLayer("third")]
    passed, data, reasoning = StrategyPipeline(layers).run("AAPL", {"price": 1.0})
    assert passed is True
    assert reasoning == LAYER_SEPARATOR.join(
        [
            "first PASS: first saw AAPL",
            "second PASS: second saw AAPL",
            "third PASS: third saw AAPL",
        ]
    )
    assert data == {"price": 1.0, "first": 1, "second": 2, "third": 3}
    assert FAILED_LAYER_KEY not in data


def test_stops_at_first_failing_layer() -> None:
    """A failing layer ends the run: later layers never run and the trail ends with FAIL."""
    first, failing, never = (
        RecordingLayer("a"),
        RecordingLayer("b", passes=False),
        RecordingLayer("c"),
    )
    passed, data, reasoning = StrategyPipeline([first, failing, never]).run("X", {})
    assert passed is False
    assert never.calls == []
    assert reasoning == "a PASS: a saw X | b FAIL: b saw X"
    assert data[FAILED_LAYER_KEY] == "b"
    assert data["b"] == 1


def test_layers_see_data_enriched_by_earlier_layers_and_input_is_untouched() -> None:
    """Each layer sees the keys earlier layers returned; the caller's dict is not modified."""
    first, second = RecordingLayer("first"), RecordingLayer("second")
    initial = {"price": 2.0}
    StrategyPipeline([first, second]).run("X", initial)
    assert second.calls == [{"price": 2.0, "first": 1}]
    assert initial == {"price": 2.0}


@dataclass(frozen=True)
class MutatingLayer:
    """A layer in the user's plan's style: it adds to the dict it is given and returns it."""

    name: str = "mutating"

    def process(self, symbol: str, data: dict[str, Any]) -> LayerResult:
        data["added"] = True
        return LayerResult(True, data, "added a key")


def test_layer_that_mutates_the_dict_it_is_given() -> None:
    """A layer returning the same dict it received still enriches the pipeline data."""
    after = RecordingLayer("after")
    passed, data, _ = StrategyPipeline([MutatingLayer(), after]).run("X", {})
    assert passed
    assert data["added"] is True
    assert after.calls[0]["added"] is True


def test_pipeline_needs_a_layer() -> None:
    """An empty pipeline is a configuration mistake and is refused."""
    with pytest.raises(ValueError, match="at least one layer"):
        StrategyPipeline([])


def test_layers_property_keeps_order() -> None:
    """The layers are exposed in run order."""
    layers = [RecordingLayer("a"), RecordingLayer("b")]
    assert [layer.name for layer in StrategyPipeline(layers).layers] == ["a", "b"]


def test_format_and_append_step() -> None:
    """Steps read 'name PASS|FAIL: words' and append with the separator (or start a trail)."""
    assert format_step("valuation", False, "P/E 25.0 >= 20.0") == "valuation FAIL: P/E 25.0 >= 20.0"
    assert append_step("", "exit", True, "sell") == "exit PASS: sell"
    assert append_step("a PASS: x", "exit", True, "sell") == "a PASS: x | exit PASS: sell"
