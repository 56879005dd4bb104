"""The user's plan's example: a market-cap liquidity screen followed by a decision that always holds.

It trades nothing; it exists to show the whole path (fundamentals event -> pipeline -> decision with
reasoning -> audit) working end to end.
"""

from ibbot.strategies.example_value.strategy import ExampleValueParams, ExampleValueStrategy

__all__ = ["ExampleValueParams", "ExampleValueStrategy"]
