"""A normalized document as tensors (`SoftScene`), for differentiable rendering and optimization.

`scene_from_document` turns a normalized `Document` (M/L/C/Z paths only) into padded tensors of
control points, stroke widths, colours and opacities; `scene_to_document` writes the current numbers
back. The command structure stays plain Python and is compiled once into a `Topology`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from gfx.svg.core.document import Document, Path, Style, SVGError

POINTS_PER_COMMAND = {"M": 1, "L": 1, "C": 3, "Z": 0}


@dataclass(frozen=True)
class Topology:
    """Which points make up each primitive of a scene, built once from the command strings.

    Attributes:
        index: (M, 4) int64 indices into `points.reshape(-1, 2)`; a line repeats its ends (a, a, b, b).
        is_line: (M,) bool.
        path: (M,) int64 path index.
        stroked: (M,) bool; False for the implicit closing edge of an open subpath (fill only).
        cap_start, cap_end: (M,) bool; the primitive starts / ends an open subpath.
    """

    index: np.ndarray
    is_line: np.ndarray
    path: np.ndarray
    stroked: np.ndarray
    cap_start: np.ndarray
    cap_end: np.ndarray


def build_topology(commands: Sequence[str], max_points: int) -> Topology:
    """Compile per-path command strings, whose points are padded to `max_points` per path."""
    rows: list[list[int]] = []  # i0, i1, i2, i3, is_line, path, stroked, cap_start, cap_end
    for p, cmds in enumerate(commands):
        base, k = p * max_points, 0
        cur = start = None
        sub: list[int] = []  # rows of the current subpath
        closed = False
        for c in cmds:
            if c == "M":
                _end_subpath(rows, sub, closed, cur, start, p)
                cur = start = base + k
                sub, closed, k = [], False, k + 1
                continue
            if cur is None:
                raise SVGError(f"path {p} starts with {c!r}; a path must start with M")
            if closed:  # drawing on after Z starts a new subpath at the old start
                sub, closed = [], False
            sub.append(len(rows))
            if c == "L":
                rows.append([cur, cur, base + k, base + k, 1, p, 1, 0, 0])
                cur, k = base + k, k + 1
            elif c == "C":
                rows.append([cur, base + k, base + k + 1, base + k + 2, 0, p, 1, 0, 0])
                cur, k = base + k + 2, k + 3
            elif c == "Z":
                rows.append([cur, cur, start, start, 1, p, 1, 0, 0])
                cur, closed = start, True
            else:
                raise SVGError(f"path {p} has command {c!r}; normalize the document first (M/L/C/Z only)")
        _end_subpath(rows, sub, closed, cur, start, p)
        if k > max_points:
            raise ValueError(f"path {p} commands {cmds[:20]!r} need {k} points; the scene holds {max_points}")
    t = np.array(rows, dtype=np.int64).reshape(-1, 9)
    return Topology(t[:, :4], t[:, 4] > 0, t[:, 5], t[:, 6] > 0, t[:, 7] > 0, t[:, 8] > 0)


def _end_subpath(rows: list[list[int]], sub: list[int], closed: bool, cur, start, path: int) -> None:
    """Mark an open subpath's caps and add its implicit closing edge (filled, not stroked)."""
    if sub and not closed:
        rows[sub[0]][7] = 1
        rows[sub[-1]][8] = 1
        rows.append([cur, cur, start, start, 1, path, 0, 0, 0])


@dataclass
class SoftScene:
    """A normalized document as tensors, ready to render and optimize.

    Numbers are tensors (set `requires_grad` on the ones to optimize); structure is plain Python.
    Paths are padded to the longest one; padding points are never read.

    Attributes:
        view_box: (min_x, min_y, width, height) of the document.
        commands: one command string per path, e.g. "MLCZ" (M/L/C/Z only).
        styles: the paths' styles; their colours, widths and opacities are superseded by the tensors
            below, while `None` paints, fill rule, caps and joins are taken from here.
        points: (P, K, 2) control and end points, viewBox units.
        stroke_width: (P,) viewBox units.
        fill_color, stroke_color: (P, 3) RGB in [0, 1] (0 where the style paints none).
        opacity, fill_opacity, stroke_opacity: (P,) in [0, 1].
    """

    view_box: tuple[float, float, float, float]
    commands: tuple[str, ...]
    styles: tuple[Style, ...]
    points: torch.Tensor
    stroke_width: torch.Tensor
    fill_color: torch.Tensor
    stroke_color: torch.Tensor
    opacity: torch.Tensor
    fill_opacity: torch.Tensor
    stroke_opacity: torch.Tensor
    topology: Topology = field(init=False, repr=False)

    def __post_init__(self):
        if not (len(self.commands) == len(self.styles) == self.points.shape[0]):
            raise ValueError(
                f"scene has {len(self.commands)} command strings, {len(self.styles)} styles and "
                f"{self.points.shape[0]} point rows; give one of each per path"
            )
        self.topology = build_topology(self.commands, self.points.shape[1])

    @property
    def num_paths(self) -> int:
        return len(self.commands)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The scene's numbers by field name (what an optimizer may update)."""
        names = (
            "points",
            "stroke_width",
            "fill_color",
            "stroke_color",
            "opacity",
            "fill_opacity",
            "stroke_opacity",
        )
        return {n: getattr(self, n) for n in names}

    def detach(self) -> SoftScene:
        """A copy whose tensors are detached clones (no gradient history)."""
        return dataclasses.replace(self, **{n: t.detach().clone() for n, t in self.tensors().items()})

    def to(self, device=None, dtype=None) -> SoftScene:
        """A copy with every tensor on `device` and/or of floating `dtype`."""
        return dataclasses.replace(
            self, **{n: t.to(device=device, dtype=dtype) for n, t in self.tensors().items()}
        )


def _rgb(colour: str | None) -> tuple[float, float, float]:
    if colour is None:
        return (0.0, 0.0, 0.0)
    return tuple(int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5))


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(round(v * 255)):02x}" for v in np.clip(rgb, 0.0, 1.0))


def scene_from_document(doc: Document, *, dtype=torch.float32, device=None) -> SoftScene:
    """Convert a normalized document (only M/L/C/Z `Path` elements) into a `SoftScene`.

    Raises:
        SVGError: when the document holds other elements or commands.
    """
    if not doc.is_normalized:
        raise SVGError(
            "soft rendering needs a normalized document (M/L/C/Z paths only); call normalize() first"
        )
    paths: list[Path] = doc.elements
    counts = [_point_count(p.commands) for p in paths]
    for i, (p, n) in enumerate(zip(paths, counts, strict=True)):
        if len(p.coords) != 2 * n:
            raise SVGError(
                f"path {i} has {len(p.coords)} numbers but its commands {p.commands[:20]!r} take {2 * n}"
            )
    points = np.zeros((len(paths), max(counts, default=0) or 1, 2))
    for i, (p, n) in enumerate(zip(paths, counts, strict=True)):
        points[i, :n] = p.coords.reshape(-1, 2)
    styles = [p.style for p in paths]

    def tensor(values, shape=(-1,)):
        return torch.tensor(np.asarray(values, dtype=np.float64).reshape(shape), dtype=dtype, device=device)

    return SoftScene(
        view_box=tuple(float(v) for v in doc.view_box),
        commands=tuple(p.commands for p in paths),
        styles=tuple(styles),
        points=tensor(points, points.shape),
        stroke_width=tensor([s.stroke_width for s in styles]),
        fill_color=tensor([_rgb(s.fill) for s in styles], (-1, 3)),
        stroke_color=tensor([_rgb(s.stroke) for s in styles], (-1, 3)),
        opacity=tensor([s.opacity for s in styles]),
        fill_opacity=tensor([s.fill_opacity for s in styles]),
        stroke_opacity=tensor([s.stroke_opacity for s in styles]),
    )


def _point_count(commands: str) -> int:
    return sum(POINTS_PER_COMMAND[c] for c in commands)


def scene_to_document(scene: SoftScene) -> Document:
    """Write a scene's current numbers back into a `Document` (same structure as it was built from).

    Colours are rounded to `#rrggbb`; colours, opacities and widths are clamped to their valid
    ranges. Paints that were `None` stay `None`.
    """
    t = {n: v.detach().cpu().double().numpy() for n, v in scene.tensors().items()}
    elements = []
    for i, (cmds, style) in enumerate(zip(scene.commands, scene.styles, strict=True)):
        n = _point_count(cmds)
        style = style.replace(
            fill=None if style.fill is None else _hex(t["fill_color"][i]),
            stroke=None if style.stroke is None else _hex(t["stroke_color"][i]),
            stroke_width=float(max(t["stroke_width"][i], 0.0)),
            opacity=float(np.clip(t["opacity"][i], 0.0, 1.0)),
            fill_opacity=float(np.clip(t["fill_opacity"][i], 0.0, 1.0)),
            stroke_opacity=float(np.clip(t["stroke_opacity"][i], 0.0, 1.0)),
        )
        elements.append(Path(cmds, t["points"][i, :n].reshape(-1).copy(), style))
    return Document(scene.view_box, elements)
