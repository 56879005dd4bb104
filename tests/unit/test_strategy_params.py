"""Strategy parameters: alternatives replaced by overrides, errors that name the parameter and its
schema, the schema read from the params models."""

from __future__ import annotations

import pytest

from ibbot.backtest import select_strategies
from ibbot.errors import ConfigError
from ibbot.settings import Settings
from ibbot.strategies import (
    SHIPPED_STRATEGIES,
    create_strategy,
    override_params,
    param_schema,
    params_model,
    validate_params,
)
from ibbot.strategies.sma_cross import SmaCrossParams

CONFIGURED = {
    "name": "sma_cross",
    "class_path": "ibbot.strategies.sma_cross.SmaCrossStrategy",
    "allocated_capital": 100_000.0,
    "params": {"fast": 5, "slow": 20, "weight": 0.2},
}


def test_a_quantity_override_replaces_the_configured_weight() -> None:
    """--param sma_cross.quantity=100 over settings with weight: the quantity alone sizes the BUY."""
    settings = Settings(strategies=[CONFIGURED])
    specs, _ = select_strategies(settings, [], [("sma_cross", "quantity", 100)])
    assert dict(specs[0].params) == {"fast": 5, "slow": 20, "quantity": 100}
    strategy = create_strategy(
        specs[0].class_path, name="sma_cross", allocated_capital=1e5, params=specs[0].params
    )
    assert strategy.params.quantity == 100  # type: ignore[attr-defined]


def test_a_weight_override_replaces_a_configured_quantity() -> None:
    """The other way round: a configured quantity gives way to --param weight."""
    assert override_params(SmaCrossParams, {"quantity": 10, "fast": 3}, {"weight": 0.5}) == {
        "fast": 3,
        "weight": 0.5,
    }
    assert override_params(None, {"quantity": 10}, {"weight": 0.5}) == {
        "quantity": 10,
        "weight": 0.5,
    }


def test_both_alternatives_given_are_refused_naming_them() -> None:
    """quantity and weight in one layer: one line naming both, under the parameter's path."""
    with pytest.raises(ConfigError) as caught:
        validate_params(SmaCrossParams, {"quantity": 10, "weight": 0.2}, strategy="s")
    assert caught.value.key == "strategies.s.params.weight"
    assert "quantity and weight are alternatives: give one of them" in str(caught.value)
    with pytest.raises(ValueError, match="quantity and weight are alternatives"):
        SmaCrossParams(quantity=10, weight=0.2)


def test_a_bad_value_names_the_parameter_and_its_schema() -> None:
    """fast=0: the path, the value, pydantic's reason and the parameter's type, default, meaning."""
    with pytest.raises(ConfigError) as caught:
        validate_params(SmaCrossParams, {"fast": 0}, strategy="sma_cross")
    message = str(caught.value)
    assert message.startswith("invalid setting strategies.sma_cross.params.fast=0: ")
    assert "(fast: int >= 1, default 10: length of the fast moving average, in bars)" in message


def test_an_unknown_parameter_lists_the_strategy_s_parameters() -> None:
    """A typo: every parameter the strategy takes, and where each is described."""
    with pytest.raises(ConfigError) as caught:
        validate_params(SmaCrossParams, {"fsat": 3}, strategy="sma_cross")
    message = str(caught.value)
    assert "unknown parameter; SmaCrossParams accepts symbols, bar_size" in message
    assert "fast, slow, quantity, weight" in message
    assert "`ibbot strategies available` describes each" in message


@pytest.mark.parametrize("name", sorted(SHIPPED_STRATEGIES))
def test_every_shipped_parameter_has_a_type_a_default_and_a_meaning(name: str) -> None:
    """The schema of each shipped strategy: no parameter without a description."""
    model = params_model(SHIPPED_STRATEGIES[name])
    assert model is not None
    schema = param_schema(model)
    assert [info.name for info in schema][:4] == [
        "symbols",
        "bar_size",
        "history_bars",
        "retry_after_bars",
    ]
    for info in schema:
        assert info.type
        assert info.default
        assert info.description, f"{name}.{info.name} has no description"


def test_the_schema_reads_types_bounds_and_defaults() -> None:
    """Optional, bounded, enum and list types in words."""
    schema = {info.name: str(info) for info in param_schema(SmaCrossParams)}
    assert schema["weight"] == (
        "weight: float > 0, <= 1, default 0.1: fraction of the allocated capital a BUY targets"
    )
    assert schema["quantity"].startswith("quantity: int >= 1, or none, default none")
    assert schema["entry"].startswith("entry: one of market, limit, default market")
    assert schema["symbols"].startswith("symbols: list of str, or none, default none")
