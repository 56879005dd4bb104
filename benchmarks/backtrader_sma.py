"""The backtrader side of ``benchmarks/backtest.py``: sma_cross(10, 30) over CSV files, whole process.

Run: ``python benchmarks/backtrader_sma.py START END FILE.csv [FILE.csv ...]`` (one file per symbol,
``date,open,high,low,close,volume``). The same rule as ibbot's sma_cross: buy a 4% weight when
SMA(10) crosses above SMA(30) and not long, close when SMA(10) is below SMA(30) and long; market
orders fill at the next bar's open. backtrader's defaults otherwise (preloaded data, vectorized
indicators, its standard observers); it prints the bars replayed, the orders and the final value.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time

import backtrader as bt  # type: ignore[import-untyped]

FAST, SLOW, WEIGHT = 10, 30, 0.04


class SmaCross(bt.Strategy):  # type: ignore[misc]
    def __init__(self) -> None:
        self.cross = {}
        self.fast = {}
        self.slow = {}
        self.orders = 0
        for data in self.datas:
            self.fast[data] = bt.indicators.SMA(data.close, period=FAST)
            self.slow[data] = bt.indicators.SMA(data.close, period=SLOW)
            self.cross[data] = bt.indicators.CrossOver(self.fast[data], self.slow[data])

    def next(self) -> None:
        for data in self.datas:
            if not len(data) or len(data) < SLOW:
                continue
            long = self.getposition(data).size > 0
            if self.cross[data][0] > 0 and not long:
                self.order_target_percent(data, target=WEIGHT)
                self.orders += 1
            elif long and self.fast[data][0] < self.slow[data][0]:
                self.close(data)
                self.orders += 1


def main() -> None:
    start, end, *files = sys.argv[1:]
    cerebro = bt.Cerebro()
    for path in files:
        cerebro.adddata(
            bt.feeds.GenericCSVData(
                dataname=path,
                fromdate=datetime.fromisoformat(start),
                todate=datetime.combine(date.fromisoformat(end), time.max),
                dtformat="%Y-%m-%d",
                datetime=0,
                open=1,
                high=2,
                low=3,
                close=4,
                volume=5,
                openinterest=-1,
            )
        )
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.0005)
    strategy = cerebro.run()[0]
    bars = sum(len(data) for data in strategy.datas)
    print(f"bars={bars} orders={strategy.orders} value={cerebro.broker.getvalue():.2f}")


if __name__ == "__main__":
    main()
