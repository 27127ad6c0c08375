"""Parse CSS colours into (`#rrggbb`, alpha): hex, rgb()/rgba(), hsl()/hsla(), named colours.

The CSS named-colour table is PIL's, loaded on first use.
"""

from __future__ import annotations

import colorsys
import math
import re

from gfx.svg.core.document import SVGError

_HEX = re.compile(r"#([0-9a-fA-F]{3,8})")
_FUNCTION = re.compile(r"(rgba?|hsla?)\(([^()]*+)\)", re.IGNORECASE)
_NAMED: dict[str, str] = {}


def parse_color(text: str) -> tuple[str, float]:
    """Parse a CSS colour into (`#rrggbb` lowercase, alpha in [0, 1]).

    Accepts `#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`, `rgb()`/`rgba()` (numbers or percentages),
    `hsl()`/`hsla()`, the 148 CSS named colours and `transparent`.

    Raises:
        SVGError: `'<text>' is not a colour`.
    """
    value = text.strip()
    low = value.lower()
    if low == "transparent":
        return "#000000", 0.0
    if m := _HEX.fullmatch(value):
        digits = m.group(1).lower()
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        if len(digits) in (6, 8):
            return "#" + digits[:6], int(digits[6:], 16) / 255 if len(digits) == 8 else 1.0
    elif m := _FUNCTION.fullmatch(value):
        parts = [p for p in re.split(r"[\s,/]+", m.group(2).strip()) if p]
        if len(parts) in (3, 4):
            try:
                return _color_from_function(m.group(1).lower(), parts)
            except ValueError:
                pass
    else:
        if not _NAMED:
            from PIL import ImageColor  # the CSS named-colour table

            _NAMED.update(
                {k: v for k, v in ImageColor.colormap.items() if isinstance(v, str) and v.startswith("#")}
            )
        if low in _NAMED:
            return _NAMED[low].lower(), 1.0
    raise SVGError(f"{text.strip()[:40]!r} is not a colour")


def _color_from_function(name: str, parts: list[str]) -> tuple[str, float]:
    def channel(p: str, scale: float) -> float:
        v = float(p[:-1]) / 100 * scale if p.endswith("%") else float(p)
        if not math.isfinite(v):
            raise ValueError(p)
        return v

    alpha = min(max(channel(parts[3], 1.0), 0.0), 1.0) if len(parts) == 4 else 1.0
    if name.startswith("rgb"):
        rgb = [min(max(round(channel(p, 255.0)), 0), 255) for p in parts[:3]]
    else:
        h = channel(parts[0].removesuffix("deg"), 360.0) / 360.0 % 1.0
        s, lum = (min(max(channel(p, 1.0), 0.0), 1.0) for p in parts[1:3])
        rgb = [round(c * 255) for c in colorsys.hls_to_rgb(h, lum, s)]
    return "#" + "".join(f"{c:02x}" for c in rgb), alpha
