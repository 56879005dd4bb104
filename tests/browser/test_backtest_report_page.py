"""The backtest report in a real browser: the trades table fits the page without breaking a token.

At 800 and 1280 px wide no number, time or id in the trades table wraps, no word of any table on
the page is split across lines, and the page itself is never wider than the window (a table too
wide for it scrolls in its own box).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

from ibbot.backtest import Backtest, BacktestConfig, BarFeed, CommissionModel, StrategySpec
from ibbot.backtest.outputs import write_outputs
from ibbot.trading import RiskLimits
from tests.browser.conftest import keep_artifact
from tests.unit.sweep_helpers import END, START, cent_bars

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from playwright.async_api import BrowserContext, Page

pytestmark = pytest.mark.asyncio(loop_scope="module")

# every word of every text node under the cells matched by the selector, that is not on one line
_SPLIT_WORDS = """(selector) => {
  const split = [];
  for (const cell of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        if (range.getClientRects().length !== 1) split.push(match[0]);
      }
    }
  }
  return split;
}"""
# the text of each cell matched by the selector whose content is taller than one line
_WRAPPED_CELLS = """(selector) => {
  const wrapped = [];
  for (const cell of document.querySelectorAll(selector)) {
    const range = document.createRange();
    range.selectNodeContents(cell);
    const height = range.getBoundingClientRect().height;
    const line = parseFloat(getComputedStyle(cell).lineHeight);
    if (height > line * 1.5) wrapped.push(cell.textContent);
  }
  return wrapped;
}"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A four-year run of two symbols with a million of cash: six-figure amounts, many trades."""
    config = BacktestConfig(
        start=START,
        end=END,
        strategies=(StrategySpec("sma_cross", "sma_cross", 1_000_000.0, {"fast": 5, "slow": 20}),),
        starting_cash=1_000_000.0,
        commission=CommissionModel.parse("ib"),
        risk=RiskLimits(max_order_notional=1e9),
    )
    result = Backtest(config).run(BarFeed.from_bars([*cent_bars("AAA", 1), *cent_bars("BBB", 2)]))
    assert len(result.fills) > 50
    return write_outputs(result, tmp_path_factory.mktemp("report")).report_html


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: BrowserContext, report: Path) -> AsyncIterator[Page]:
    opened = await browser.new_page()
    await opened.goto(report.as_uri())
    try:
        yield opened
    finally:
        await opened.close()


@pytest.mark.parametrize("width", [800, 1280])
async def test_trades_table_fits_without_breaking_a_token(
    page: Page, artifacts: Path, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 900})
    assert await page.evaluate(_WRAPPED_CELLS, "table.trades td") == []
    assert await page.evaluate(_SPLIT_WORDS, "table th, table td") == []
    document_width = await page.evaluate("document.documentElement.scrollWidth")
    assert document_width <= width
    trades = page.locator("table.trades")
    assert await trades.evaluate("t => t.rows.length") > 50
    shot = artifacts / f"report-trades-{width}.png"
    await page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": width, "height": 900})
    keep_artifact(shot)
