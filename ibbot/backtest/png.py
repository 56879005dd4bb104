"""``report.png``: the equity curve over its drawdown, drawn with Pillow from the charts' geometry.

Drawn at twice the size and scaled down by averaging each 2x2 block, which smooths the lines
(Pillow draws without anti-aliasing; three times, or a Lanczos filter, look the same and cost
several times as much); the text uses the font Pillow
bundles. Compressed at zlib's default level (``optimize`` tries every level for 2% fewer bytes and
takes five times as long). PNG files are written without a date or any other varying metadata,
so the same result gives the same bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

    from PIL import ImageDraw, ImageFont

    from ibbot.backtest.charts import ChartGeometry

__all__ = ["render_png"]

_SCALE: Final = 2
_BACKGROUND: Final = (255, 255, 255)
_GRID: Final = (225, 228, 232)
_FRAME: Final = (170, 175, 180)
_TEXT: Final = (60, 64, 70)
_FONT_SIZE: Final = 11


def _rgb(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _blend(color: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    r, g, b = color
    return (
        round(255 + (r - 255) * alpha),
        round(255 + (g - 255) * alpha),
        round(255 + (b - 255) * alpha),
    )


_OTHER = (110, 119, 129)


def _draw(
    draw: ImageDraw.ImageDraw,
    chart: ChartGeometry,
    offset: int,
    color: tuple[int, int, int],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    s = _SCALE

    def at(x: float, y: float) -> tuple[float, float]:
        return x * s, (y + offset) * s

    draw.text(at(chart.left, 6), chart.title, fill=_TEXT, font=font)
    for tick in chart.y_ticks:
        draw.line([at(chart.left, tick.position), at(chart.right, tick.position)], _GRID, s)
        draw.text(at(chart.left - 6, tick.position), tick.label, fill=_TEXT, font=font, anchor="rm")
    for tick in chart.x_ticks:
        draw.line([at(tick.position, chart.top), at(tick.position, chart.bottom)], _GRID, s)
        draw.text(
            at(tick.position, chart.bottom + 10), tick.label, fill=_TEXT, font=font, anchor="mm"
        )
    points = [at(x, y) for x, y in chart.points]
    if chart.baseline is not None and points:
        base = (chart.baseline + offset) * s
        draw.polygon(
            [(points[0][0], base), *points, (points[-1][0], base)], fill=_blend(color, 0.25)
        )
    for other in chart.others:  # the benchmark: thinner, grey, under the strategy's line
        line = [at(x, y) for x, y in other]
        if len(line) > 1:
            draw.line(line, fill=_OTHER, width=s, joint="curve")
    if len(points) > 1:
        draw.line(points, fill=color, width=2 * s, joint="curve")
    draw.rectangle(
        [at(chart.left, chart.top), at(chart.right, chart.bottom)], outline=_FRAME, width=s
    )


def render_png(path: Path, charts: list[ChartGeometry], *, colors: list[str]) -> None:
    """Stack ``charts`` (of equal width) top to bottom into one PNG at ``path``.

    Pillow is imported here, on the thread that draws (the outputs' writer): a backtest's
    process loads it only to draw, while its main thread makes the other files.
    """
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415

    width = max(chart.width for chart in charts)
    height = sum(chart.height for chart in charts)
    image = Image.new("RGB", (width * _SCALE, height * _SCALE), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=_FONT_SIZE * _SCALE)
    offset = 0
    for chart, color in zip(charts, colors, strict=True):
        _draw(draw, chart, offset, _rgb(color), font)
        offset += chart.height
    image = image.reduce(_SCALE)  # each pixel the mean of its 2x2 drawn ones
    # the format told by the name's extension: Pillow then loads its PNG plugin alone (given as
    # format="PNG", or by a temporary file's name, it first loads five plugins: ~14 ms)
    buffer = io.BytesIO()
    buffer.name = "report.png"
    image.save(buffer)
    path.write_bytes(buffer.getbuffer())
