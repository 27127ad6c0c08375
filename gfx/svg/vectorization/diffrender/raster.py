"""Rasterize `SoftScene`s in PyTorch, differentiably, the way cairosvg draws them.

`render_batch` renders scenes on white (or any background):

* Curves are flattened into short straight pieces (at most `max_segment` px long, within `tolerance`
  px of the cubic); lines are cubics with control points at thirds, so one code path serves both.
* Fills use exact box-filtered winding numbers. Each piece adds the area of the pixel box that its
  leftward crossings cover (a closed form, piecewise quadratic in the end points), so the filtered
  winding number of a polygon is a sum over its pieces. A piece only changes pixels near it and the
  rest of its row by a constant, so each piece fills a small window of column differences and one
  cumulative sum over columns completes the rows. Coverage is `min(1, |w|)` (nonzero) or the
  distance of `w` to the nearest even integer (evenodd): exact area coverage for simple shapes.
* Strokes use the distance from the pixel centre to each piece: a band of the stroke width, box
  filtered across the piece, so round joins and round caps come for free; butt and square caps cut
  the end pieces with a filtered half-plane. A path's stroke coverage is the max over its pieces.
* Paths are painted in document order over the background, each its fill then its stroke. As in
  cairosvg, a path's `opacity` multiplies its fill and stroke alpha separately (SVG would group them).

`filter_width` is the box filter's side in pixels: 1 matches cairosvg's anti-aliasing; larger values
blur edges so gradients reach pixels further away (useful early in an optimization). Work is local:
each piece touches a window of about (length + width + filter + 3)^2 pixels, so cost grows with the
drawn length, not with pixels x pieces.

Known differences from cairosvg: joins are always round (miter and bevel joins are drawn round; the
icon corpus uses round joins), and where several subpaths of one path share an edge with the same
direction (nonzero rule), that edge's anti-aliased pixels come out darker.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gfx.svg.vectorization.diffrender.scene import SoftScene

_CAPS = ("round", "butt", "square")  # an index > 0 cuts the stroke's ends square
DEFAULT_SIZE = 128
MAX_PIECES_PER_CURVE = 1024
MAX_WINDOW_CELLS = 1 << 22
"""Cells (pieces x window pixels) processed at once; bounds memory for very long or complex paths."""


def render_scene(scene: SoftScene, size: int = DEFAULT_SIZE, **options) -> torch.Tensor:
    """Render one scene; returns (size, size, 3) RGB in [0, 1]. Options as in `render_batch`."""
    return render_batch([scene], size, **options)[0]


def render_batch(
    scenes: Sequence[SoftScene],
    size: int = DEFAULT_SIZE,
    *,
    background: Sequence[float] | torch.Tensor = (1.0, 1.0, 1.0),
    filter_width: float = 1.0,
    tolerance: float = 0.05,
    max_segment: float = 4.0,
) -> torch.Tensor:
    """Render scenes to images, differentiably, each viewBox fitted into the square (`xMidYMid meet`).

    Args:
        scenes: scenes on one device with one dtype.
        size: output side in pixels.
        background: RGB in [0, 1] under the drawing.
        filter_width: anti-aliasing box side in pixels; 1 matches cairosvg, more is softer.
        tolerance: largest distance in pixels between a cubic and its flattening.
        max_segment: longest flattened piece of a fill in pixels (strokes use max(this, width)).

    Returns:
        (B, size, size, 3) RGB in [0, 1], the scenes' dtype.
    """
    if not scenes:
        raise ValueError("render_batch needs at least one scene")
    if not (1 <= size <= 8192 and filter_width > 0 and tolerance > 0 and max_segment > 0):
        raise ValueError(
            f"need 1 <= size <= 8192 and positive filter_width, tolerance, max_segment; "
            f"got {size}, {filter_width}, {tolerance}, {max_segment}"
        )
    dtype, device = scenes[0].points.dtype, scenes[0].points.device
    for s in scenes:
        if s.points.dtype != dtype or s.points.device != device:
            raise ValueError("render_batch needs all scenes on one device with one dtype")
    prims = _gather(scenes, size)
    styles = [st for s in scenes for st in s.styles]
    fills = [st.fill is not None for st in styles]
    strokes = [st.stroke is not None for st in styles]
    fill_layer, stroke_layer = np.cumsum(fills) - 1, np.cumsum(strokes) - 1

    # 1. Fill coverage of the paths that fill, (F, H, W); path g fills layer fill_layer[g].
    keep = torch.tensor(fills, dtype=torch.bool, device=device)[prims.path]
    a, b, prim, _, _ = _flatten(prims.ctrl[keep], max_segment, tolerance)
    layer = torch.as_tensor(fill_layer, device=device)[prims.path[keep][prim]]
    winding = _winding(a, b, layer, sum(fills), size, filter_width)
    evenodd = [st.fill_rule == "evenodd" for st, f in zip(styles, fills, strict=True) if f]
    evenodd = torch.tensor(evenodd, dtype=torch.bool, device=device)[:, None, None]
    fill_cov = torch.where(
        evenodd, (winding - 2 * torch.round(winding / 2)).abs(), winding.abs().clamp(max=1)
    )

    # 2. Stroke coverage of the paths that stroke, (S, H, W); path g strokes layer stroke_layer[g].
    half = prims.half
    keep = (
        prims.stroked
        & torch.tensor(strokes, dtype=torch.bool, device=device)[prims.path]
        & (half[prims.path] > 0)
    )
    widths = 2 * half.detach()[prims.path[keep]]
    piece_len = max(max_segment, float(widths.max()) if len(widths) else 0.0)
    a, b, prim, first, last = _flatten(prims.ctrl[keep], piece_len, tolerance)
    piece_path = prims.path[keep][prim]
    cap = torch.tensor([_CAPS.index(st.stroke_linecap) for st in styles], device=device)[piece_path]
    piece_half = half[piece_path]
    stroke_cov = _stroke_coverage(
        a,
        b,
        torch.as_tensor(stroke_layer, device=device)[piece_path],
        piece_half,
        cap_start=first & prims.cap_start[keep][prim] & (cap > 0),  # butt and square caps cut the ends
        cap_end=last & prims.cap_end[keep][prim] & (cap > 0),
        cap_extend=torch.where(cap == _CAPS.index("square"), piece_half, torch.zeros_like(piece_half)),
        n_layers=sum(strokes),
        size=size,
        filter_width=filter_width,
    )

    # 3. Paint each path's fill, then its stroke, in order over the background. Like cairosvg,
    # `opacity` scales fill and stroke alpha separately (a stroke shows the fill beneath it).
    background = torch.as_tensor(background, dtype=dtype, device=device)
    images, g = [], 0
    for s in scenes:
        image = background.expand(size, size, 3)
        for p in range(s.num_paths):
            if fills[g]:
                alpha = fill_cov[fill_layer[g]] * (s.fill_opacity[p] * s.opacity[p])
                image = image + alpha[..., None] * (s.fill_color[p] - image)
            if strokes[g]:
                alpha = stroke_cov[stroke_layer[g]] * (s.stroke_opacity[p] * s.opacity[p])
                image = image + alpha[..., None] * (s.stroke_color[p] - image)
            g += 1
        images.append(image)
    return torch.stack(images)


@dataclass
class _Primitives:
    """A batch's primitives as cubics in pixels; paths numbered across the batch (scene by scene).

    Attributes:
        ctrl: (M, 4, 2) control points, pixels.
        path: (M,) int64 path number.
        stroked, cap_start, cap_end: (M,) bool, as in `Topology`.
        half: (paths,) half stroke width, pixels.
    """

    ctrl: torch.Tensor
    path: torch.Tensor
    stroked: torch.Tensor
    cap_start: torch.Tensor
    cap_end: torch.Tensor
    half: torch.Tensor


def _gather(scenes: Sequence[SoftScene], size: int) -> _Primitives:
    device = scenes[0].points.device
    parts: dict[str, list[torch.Tensor]] = {f.name: [] for f in dataclasses.fields(_Primitives)}
    paths = 0
    for s in scenes:
        scale, dx, dy = _fit(s.view_box, size)
        topo = s.topology
        points = s.points.reshape(-1, 2) * scale + torch.tensor([dx, dy], dtype=s.points.dtype, device=device)
        pts = points[torch.as_tensor(topo.index, device=device)]  # (M, 4, 2)
        line = torch.as_tensor(topo.is_line, device=device)[:, None]
        a, z = pts[:, 0], pts[:, 3]
        c1 = torch.where(line, a + (z - a) / 3, pts[:, 1])
        c2 = torch.where(line, a + (z - a) * (2 / 3), pts[:, 2])
        parts["ctrl"].append(torch.stack([a, c1, c2, z], 1))
        parts["path"].append(torch.as_tensor(topo.path, device=device) + paths)
        for name in ("stroked", "cap_start", "cap_end"):
            parts[name].append(torch.as_tensor(getattr(topo, name), device=device))
        parts["half"].append(s.stroke_width.clamp(min=0) * (scale / 2))
        paths += s.num_paths
    prims = _Primitives(**{name: torch.cat(values) for name, values in parts.items()})
    if not torch.isfinite(prims.ctrl).all():
        raise ValueError(
            "scene points are not all finite; lower the optimizer's learning rate or clamp the points"
        )
    return prims


def _fit(view_box, size: int) -> tuple[float, float, float]:
    """Scale and offset (x, y) mapping viewBox units to pixels, `xMidYMid meet`."""
    x, y, w, h = view_box
    if w <= 0 or h <= 0:
        raise ValueError(f"viewBox {view_box} has no area")
    k = min(size / w, size / h)
    return k, (size - k * w) / 2 - k * x, (size - k * h) / 2 - k * y


def _flatten(ctrl: torch.Tensor, max_len: float, tolerance: float):
    """Split cubics into straight pieces.

    Args:
        ctrl: (M, 4, 2) cubic control points, pixels.
        max_len: longest piece in pixels (by control polygon length).
        tolerance: largest distance between a cubic and its pieces, pixels.

    Returns:
        a, b: (E, 2) piece ends; prim: (E,) index of the cubic; first, last: (E,) bool, the cubic's
        first / last piece.
    """
    with torch.no_grad():
        d = ctrl[:, 1:] - ctrl[:, :-1]  # (M, 3, 2)
        length = d.norm(dim=-1).sum(-1)
        bend = (d[:, 1:] - d[:, :-1]).norm(dim=-1).amax(-1) if len(ctrl) else length
        # A uniform n-piece flattening is within 3/4 * bend / n^2 of the cubic.
        n = torch.maximum((length / max_len).ceil(), (0.75 * bend / tolerance).sqrt().ceil())
        n = n.clamp(1, MAX_PIECES_PER_CURVE).long()
    prim = torch.repeat_interleave(torch.arange(len(ctrl), device=ctrl.device), n)
    j = torch.arange(len(prim), device=ctrl.device) - (n.cumsum(0) - n)[prim]
    count = n[prim]
    c = ctrl[prim]
    t0 = (j / count).to(ctrl.dtype)[:, None]
    t1 = ((j + 1) / count).to(ctrl.dtype)[:, None]
    return _bezier(c, t0), _bezier(c, t1), prim, j == 0, j == count - 1


def _bezier(c: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points of cubics `c` (E, 4, 2) at parameters `t` (E, 1)."""
    u = 1 - t
    return u**3 * c[:, 0] + 3 * u * u * t * c[:, 1] + 3 * u * t * t * c[:, 2] + t**3 * c[:, 3]


def _windows(lo: torch.Tensor, extent: torch.Tensor, margin: float, limit: int) -> tuple[torch.Tensor, int]:
    """First pixel index and a shared count covering [lo - margin, lo + extent + margin] per piece.

    The window is clipped to [-1, limit], since rows and columns outside the image only matter through
    the cumulative sums that start at column 0.
    """
    start = (lo - margin - 0.5).floor().clamp(-1, limit).long()
    count = int(math.ceil(float(extent.max()) + 2 * margin)) + 2 if len(lo) else 1
    return start, min(count, limit + 2)


def _chunks(n: int, cells: int):
    step = max(1, MAX_WINDOW_CELLS // max(cells, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _winding(a, b, layer, n_layers: int, size: int, filter_width: float) -> torch.Tensor:
    """Box-filtered winding numbers of each output layer's pieces.

    Args:
        a, b: (E, 2) piece ends in pixels (x right, y down).
        layer: (E,) output layer of each piece.

    Returns:
        (n_layers, size, size): the mean, over each pixel's box of side `filter_width`, of the winding
        number, counting each piece's crossings of a ray from the point towards -x.
    """
    out = a.new_zeros(n_layers * size * size)
    s = filter_width
    y0, y1 = torch.minimum(a[:, 1], b[:, 1]).detach(), torch.maximum(a[:, 1], b[:, 1]).detach()
    x0, x1 = torch.minimum(a[:, 0], b[:, 0]).detach(), torch.maximum(a[:, 0], b[:, 0]).detach()
    # Level pieces cross no row; pieces above, below or right of the image change no pixel.
    keep = (y1 - y0 > 1e-9) & (y1 > -s) & (y0 < size + s) & (x0 < size + s)
    a, b, layer, y0, y1, x0, x1 = (t[keep] for t in (a, b, layer, y0, y1, x0, x1))
    if len(a):
        r0, kr = _windows(y0, y1 - y0, s / 2, size)
        c0, kc = _windows(x0, x1 - x0, s / 2, size)
        for part in _chunks(len(a), kr * kc):
            out = out.index_add(
                0, *_winding_window(a[part], b[part], layer[part], r0[part], c0[part], kr, kc, size, s)
            )
    return out.reshape(n_layers, size, size).cumsum(-1)


def _winding_window(a, b, layer, r0, c0, kr: int, kc: int, size: int, s: float) -> torch.Tensor:
    rows = r0[:, None] + torch.arange(kr, device=a.device)  # (E, R)
    cols = c0[:, None] + torch.arange(kc, device=a.device)  # (E, C)
    cy = rows.to(a.dtype) + 0.5
    dy = b[:, 1] - a[:, 1]
    flat = dy.abs() < 1e-9
    slope = (b[:, 0] - a[:, 0]) / torch.where(flat, torch.ones_like(dy), dy)  # dx/dy
    y_lo = torch.maximum(torch.minimum(a[:, 1], b[:, 1])[:, None], cy - s / 2)
    y_hi = torch.minimum(torch.maximum(a[:, 1], b[:, 1])[:, None], cy + s / 2)
    height = (y_hi - y_lo).clamp(min=0) * (~flat)[:, None]  # (E, R)
    x_lo = a[:, 0, None] + (y_lo - a[:, 1, None]) * slope[:, None]
    x_hi = a[:, 0, None] + (y_hi - a[:, 1, None]) * slope[:, None]
    right = cols.to(a.dtype)[:, None, :] + 0.5 + s / 2  # (E, 1, C): right side of each pixel box
    u_lo = (right - x_lo[..., None]) / s  # (E, R, C): covered fraction of the box row at y_lo
    u_hi = (right - x_hi[..., None]) / s
    # Mean over the row span of clamp(u, 0, 1), u linear in y: exact, piecewise quadratic.
    lo, hi = torch.minimum(u_lo, u_hi), torch.maximum(u_lo, u_hi)
    gap = hi - lo
    small = gap < 1e-4
    ramp = (_ramp_integral(hi) - _ramp_integral(lo)) / torch.where(small, torch.ones_like(gap), gap)
    mean = torch.where(small, ((lo + hi) / 2).clamp(0, 1), ramp)
    mean = torch.where(lo >= 1, torch.ones_like(mean), torch.where(hi <= 0, torch.zeros_like(mean), mean))
    area = mean * (height * torch.sign(dy)[:, None] / s)[..., None]  # (E, R, C)
    delta = torch.diff(area, dim=-1, prepend=torch.zeros_like(area[..., :1]))  # column differences
    inside = ((rows >= 0) & (rows < size))[..., None] & (cols < size)[:, None, :]
    index = (layer[:, None, None] * size + rows.clamp(0, size - 1)[..., None]) * size + cols.clamp(
        0, size - 1
    )[:, None]
    return index.reshape(-1), (delta * inside).reshape(-1)


def _ramp_integral(u: torch.Tensor) -> torch.Tensor:
    """Antiderivative of clamp(u, 0, 1) that is 0 for u <= 0."""
    return torch.where(u >= 1, u - 0.5, u.clamp(0, 1) ** 2 / 2)


def _box(lo: torch.Tensor, hi: torch.Tensor, x: torch.Tensor, s: float) -> torch.Tensor:
    """Fraction of the box [x - s/2, x + s/2] inside the interval [lo, hi]."""
    return ((torch.minimum(x + s / 2, hi) - torch.maximum(x - s / 2, lo)) / s).clamp(0, 1)


def _stroke_coverage(a, b, layer, half, *, cap_start, cap_end, cap_extend, n_layers, size, filter_width):
    """Box-filtered stroke coverage of each output layer: the max over its pieces.

    Args:
        a, b: (E, 2) piece ends in pixels.
        layer: (E,) output layer of each piece.
        half: (E,) half stroke width in pixels.
        cap_start, cap_end: (E,) bool; the piece's start / end is cut square (butt or square cap).
        cap_extend: (E,) how far a square cut reaches past the end: 0 (butt) or the half width.

    Returns:
        (n_layers, size, size) coverage in [0, 1].
    """
    out = a.new_zeros(n_layers * size * size)
    if len(a):
        reach = math.sqrt(2) if bool((cap_extend > 0).any()) else 1.0  # a square cap's corner is further
        margin = float(half.detach().max()) * reach + filter_width / 2
        lo, hi = torch.minimum(a, b).detach(), torch.maximum(a, b).detach()
        keep = ((hi + margin > 0) & (lo - margin < size)).all(-1)  # pieces that reach into the image
        pieces = [t[keep] for t in (a, b, layer, half, cap_start, cap_end, cap_extend)]
        r0, kr = _windows(lo[keep, 1], (hi - lo)[keep, 1], margin, size)
        c0, kc = _windows(lo[keep, 0], (hi - lo)[keep, 0], margin, size)
        for part in _chunks(len(r0), kr * kc):
            index, value = _stroke_window(
                *(t[part] for t in pieces), r0[part], c0[part], kr, kc, size, filter_width
            )
            out = out.scatter_reduce(0, index, value, reduce="amax")
    return out.reshape(n_layers, size, size)


def _stroke_window(a, b, layer, half, cap_start, cap_end, cap_extend, r0, c0, kr, kc, size, s):
    rows = r0[:, None] + torch.arange(kr, device=a.device)  # (E, R)
    cols = c0[:, None] + torch.arange(kc, device=a.device)  # (E, C)
    wx = (cols.to(a.dtype) + 0.5 - a[:, 0, None])[:, None, :]  # (E, 1, C) pixel centre - a
    wy = (rows.to(a.dtype) + 0.5 - a[:, 1, None])[:, :, None]  # (E, R, 1)
    v = b - a
    length = v.norm(dim=-1)
    degenerate = length < 1e-9
    unit = torch.where(
        degenerate[:, None],
        torch.tensor([1.0, 0.0], dtype=a.dtype, device=a.device),
        v / torch.where(degenerate, torch.ones_like(length), length)[:, None],
    )
    ux, uy, length = unit[:, 0, None, None], unit[:, 1, None, None], length[:, None, None]
    along = wx * ux + wy * uy  # (E, R, C) distance along the piece from a
    nearest = torch.where(cap_start[:, None, None], along, along.clamp(min=0))
    nearest = torch.where(cap_end[:, None, None], nearest, torch.minimum(nearest, length))
    dist = ((wx - nearest * ux) ** 2 + (wy - nearest * uy) ** 2 + 1e-12).sqrt()
    h = half[:, None, None]
    cover = _box(-h, h, dist, s)  # across the piece: a band of the stroke width
    ext = cap_extend[:, None, None]
    start = torch.where(cap_start[:, None, None], -ext, torch.full_like(ext, -1e9))
    end = torch.where(cap_end[:, None, None], length + ext, torch.full_like(length + ext, 1e9))
    cover = cover * _box(start, end, along, s)  # along the piece: cut at square caps
    inside = ((rows >= 0) & (rows < size))[..., None] & ((cols >= 0) & (cols < size))[:, None, :]
    index = (layer[:, None, None] * size + rows.clamp(0, size - 1)[..., None]) * size + cols.clamp(
        0, size - 1
    )[:, None]
    return index.reshape(-1), (cover * inside).reshape(-1)
