"""Macro tokens over `PathTokenizer` ids (ToolkenGPT's tools as tokens, for a frozen icon model): one token
stands for a whole subpath, its arguments are ordinary point tokens, and a deterministic expander writes the
subpath out.

    token                    arguments        expands to (in the current path element)
    <circle> c p             2 points         the circle around c through p, as normalize writes <circle>
    <rrect> a b p            3 points         the rectangle with corners a, b and corner radius |p - a|
                                              (0: sharp), as normalize writes <rect rx>
    <mirror>                 none             the previous subpath mirrored about the vertical centre line
    <repeat> p               1 point          the previous subpath moved so that its first point is p

"Previous" is the last subpath written before, in any element, after expansion. The macro ids follow the
tokenizer's: `macros.ids["<circle>"] == tokenizer.vocab_size`, and so on. `grammar()` is the tokenizer's drawable
grammar with the macros as subpath alternatives (the icon's first subpath cannot be <mirror> or <repeat>).
`compress` rewrites a plain sequence: each subpath becomes the shortest macro whose expansion traces the same
curve to within `tolerance` lattice steps (sampled both ways; the closest among equally short ones), or stays.

    macros = PathMacros(tokenizer)
    short = macros.compress(tokenizer.encode(doc))       # fewer tokens
    plain = macros.expand(short)                         # PathTokenizer ids again: tokenizer.decode(plain)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gfx.svg.core.document import SVGError
from gfx.svg.tokenizers.path import PathTokenizer
from gfx.svg.tokenizers.vocab import POINT_ARITY

MACROS = ("<circle>", "<rrect>", "<mirror>", "<repeat>")
MACRO_ARITY = {"<circle>": 2, "<rrect>": 3, "<mirror>": 0, "<repeat>": 1}
"""Point arguments of each macro."""

KAPPA = 0.5522847498  # cubic control distance of a quarter circle of radius 1


@dataclass(frozen=True)
class Subpath:
    """One subpath: commands from "MLCZ" (starting with M) and (N, 2) float64 lattice points, one per point token."""

    commands: str
    points: np.ndarray

    def outline(self, samples: int = 12) -> np.ndarray:
        """Points along the drawn curve: (K, 2) float64 lattice units (each cubic sampled `samples` times)."""
        out, k, start = [self.points[0]], 1, self.points[0]
        t = np.linspace(0, 1, samples + 1)[1:, None]
        for c in self.commands[1:]:
            if c == "L":
                out += list(out[-1] + t * (self.points[k] - out[-1]))
            elif c == "C":
                p0, (p1, p2, p3) = out[-1], self.points[k : k + 3]
                out += list((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3)
            elif c == "Z":
                out += list(out[-1] + t * (start - out[-1]))
            k += POINT_ARITY[c]
        return np.asarray(out)


def distance(a: Subpath, b: Subpath) -> float:
    """Symmetric Hausdorff distance between two subpaths' sampled outlines, in lattice steps."""
    pa, pb = a.outline(), b.outline()
    d = np.linalg.norm(pa[:, None] - pb[None], axis=-1)  # (Ka, Kb)
    return float(max(d.min(1).max(), d.min(0).max()))


class PathMacros:
    """Macro tokens on top of a `PathTokenizer`: ids, expansion, compression and grammar (module doc).

    Args:
        tokenizer: the plain tokenizer; macro ids start at its vocab_size.
        tolerance: `compress` accepts a macro whose expansion lies within this many lattice steps of the subpath.
    """

    def __init__(self, tokenizer: PathTokenizer, tolerance: float = 1.0):
        self.tokenizer, self.tolerance = tokenizer, tolerance
        self.ids = {m: tokenizer.vocab_size + i for i, m in enumerate(MACROS)}
        self.names = {i: m for m, i in self.ids.items()}
        self.vocab = [*tokenizer.vocab, *MACROS]
        self.last = tokenizer.lattice - 1

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # --- lattice geometry -------------------------------------------------------------------
    def _is_point(self, token: int) -> bool:
        return self.tokenizer.point_base <= token < self.tokenizer.vocab_size

    def _xy(self, token: int) -> np.ndarray:
        return self.tokenizer.point_xy([token])[0].astype(np.float64)

    def _token(self, xy: np.ndarray) -> int:
        q = np.clip(np.rint(xy), 0, self.last).astype(np.int64)
        return int(self.tokenizer.point_base + q[0] + q[1] * self.tokenizer.lattice)

    def _ids(self, path: Subpath) -> list[int]:
        """A subpath's tokens (points rounded and clipped onto the lattice)."""
        out, k = [], 0
        for c in path.commands:
            out.append(self.tokenizer.command_ids[c])
            out += [self._token(p) for p in path.points[k : k + POINT_ARITY[c]]]
            k += POINT_ARITY[c]
        return out

    def circle(self, center: np.ndarray, through: np.ndarray) -> Subpath:
        """The circle around `center` through `through` (lattice (2,) each), from its top, clockwise."""
        (cx, cy), r = center, float(np.linalg.norm(through - center))
        k = KAPPA * r
        pts = [(cx, cy - r), (cx + k, cy - r), (cx + r, cy - k), (cx + r, cy), (cx + r, cy + k), (cx + k, cy + r),
               (cx, cy + r), (cx - k, cy + r), (cx - r, cy + k), (cx - r, cy), (cx - r, cy - k), (cx - k, cy - r),
               (cx, cy - r)]
        return Subpath("MCCCCZ", np.rint(np.asarray(pts)))

    def rounded_rect(self, a: np.ndarray, b: np.ndarray, radius_point: np.ndarray) -> Subpath:
        """The rectangle with opposite corners `a`, `b` and corner radius |radius_point - a| (clamped to half the
        shorter side), from the top edge's left end, clockwise; straight sides of length 0 are left out."""
        (x0, y0), (x1, y1) = np.minimum(a, b), np.maximum(a, b)
        r = min(float(np.linalg.norm(radius_point - a)), (x1 - x0) / 2, (y1 - y0) / 2)
        if np.rint(r) == 0:
            return Subpath("MLLLZ", np.asarray([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]))
        k = r - KAPPA * r
        corners = [  # per side: the straight side's end, then the corner's cubic
            [(x1 - r, y0), (x1 - k, y0), (x1, y0 + k), (x1, y0 + r)],
            [(x1, y1 - r), (x1, y1 - k), (x1 - k, y1), (x1 - r, y1)],
            [(x0 + r, y1), (x0 + k, y1), (x0, y1 - k), (x0, y1 - r)],
            [(x0, y0 + r), (x0, y0 + k), (x0 + k, y0), (x0 + r, y0)],
        ]
        commands, pts = "M", [np.rint((x0 + r, y0))]
        for side in corners:
            side = np.rint(np.asarray(side))
            if (side[0] != pts[-1]).any():
                commands += "L"
                pts.append(side[0])
            commands += "C"
            pts += list(side[1:])
        return Subpath(commands + "Z", np.asarray(pts))

    def mirrored(self, previous: Subpath) -> Subpath:
        """`previous` mirrored about the vertical centre line (x -> last - x)."""
        return Subpath(previous.commands, previous.points * [-1, 1] + [self.last, 0])

    def repeated(self, previous: Subpath, start: np.ndarray) -> Subpath:
        """`previous` moved so that its first point is `start` (clipped to the lattice on expansion)."""
        return Subpath(previous.commands, previous.points + (start - previous.points[0]))

    def _macro(self, name: str, args: Sequence[np.ndarray], previous: Subpath | None) -> Subpath:
        if name in ("<mirror>", "<repeat>") and previous is None:
            raise SVGError(f"{name} needs a subpath before it")
        if name == "<circle>":
            return self.circle(*args)
        if name == "<rrect>":
            return self.rounded_rect(*args)
        if name == "<mirror>":
            return self.mirrored(previous)
        return self.repeated(previous, args[0])

    # --- expansion --------------------------------------------------------------------------
    def expand(self, ids: Sequence[int]) -> list[int]:
        """Plain `PathTokenizer` ids of a sequence with macros: each macro and its argument tokens replaced by
        the subpath it stands for (deterministic; plain ids pass through). SVGError for a truncated macro or a
        <mirror>/<repeat> with no subpath before it."""
        out: list[int] = []
        previous, current, i, ids = None, None, 0, [int(t) for t in ids]
        commands = {v: k for k, v in self.tokenizer.command_ids.items()}
        while i < len(ids):
            t = ids[i]
            letter, is_point = commands.get(t), self._is_point(t)
            if t in self.names or letter == "M" or not (letter or is_point):  # the current subpath ends
                previous, current = current or previous, None
            if t in self.names:
                name = self.names[t]
                args = ids[i + 1 : i + 1 + MACRO_ARITY[name]]
                if len(args) < MACRO_ARITY[name] or not all(map(self._is_point, args)):
                    raise SVGError(f"{name} at position {i} needs {MACRO_ARITY[name]} point tokens after it")
                previous = self._macro(name, [self._xy(a) for a in args], previous)
                out += self._ids(previous)
                i += 1 + len(args)
                continue
            if letter == "M":
                current = Subpath("M", np.zeros((0, 2)))
            elif current is not None and letter:
                current = Subpath(current.commands + letter, current.points)
            elif current is not None and is_point:
                current = Subpath(current.commands, np.vstack([current.points, self._xy(t)]))
            out.append(t)
            i += 1
        return out

    # --- compression ------------------------------------------------------------------------
    def subpaths(self, ids: Sequence[int]) -> list[tuple[int, int, Subpath]]:
        """The plain subpaths of a `PathTokenizer` sequence: (start, stop, subpath) per subpath, ids[start:stop]."""
        out, commands = [], {v: k for k, v in self.tokenizer.command_ids.items()}
        start = None
        for i, t in enumerate([*map(int, ids), -1]):
            letter = commands.get(t)
            is_point = self._is_point(t)
            if start is not None and (letter == "M" or not (letter or is_point)):
                body = ids[start:i]
                letters = "".join(commands[int(c)] for c in body if int(c) in commands)
                pts = np.asarray([self._xy(int(c)) for c in body if int(c) not in commands]).reshape(-1, 2)
                out.append((start, i, Subpath(letters, pts)))
                start = None
            if letter == "M":
                start = i
        return out

    def candidates(self, path: Subpath, previous: Subpath | None) -> list[tuple[str, list[np.ndarray]]]:
        """Macro calls that might trace `path`, shortest first: (name, point arguments)."""
        out = []
        if previous is not None:
            out.append(("<mirror>", []))
            shift = path.points.min(0) - previous.points.min(0)
            if shift.any():
                out.append(("<repeat>", [previous.points[0] + shift]))
        lo, hi = path.points.min(0), path.points.max(0)
        if "C" in path.commands:
            center = np.rint((lo + hi) / 2)
            out.append(("<circle>", [center, center - [0, np.rint((hi[1] - lo[1]) / 2)]]))
        top = path.points[path.points[:, 1] == lo[1], 0]
        inset = float(top.min() - lo[0]) if len(top) else 0.0  # the corner's control point, or its end when sharp
        guess = np.rint(inset / (1 - KAPPA))  # the inset is rounded: try the radii around it
        for radius in dict.fromkeys((guess, guess - 1, guess + 1, inset)):
            out.append(("<rrect>", [lo, hi, lo + [radius, 0]]))
        return out

    def compress(self, ids: Sequence[int]) -> list[int]:
        """`ids` with each subpath replaced by the shortest (then closest) macro that traces it within `tolerance`;
        `expand(compress(ids))` draws the same icon to within the tolerance."""
        ids = [int(t) for t in ids]
        out, done, previous = [], 0, None
        for start, stop, path in self.subpaths(ids):
            out += ids[done:start]
            kept, drawn, best = ids[start:stop], path, (len(ids[start:stop]), 0.0)
            for name, args in self.candidates(path, previous):
                if (1 + len(args), 0.0) >= best:
                    continue
                expanded = self._macro(name, args, previous)
                score = (1 + len(args), distance(expanded, path))
                if score[1] <= self.tolerance and score < best:
                    kept, drawn, best = [self.ids[name], *map(self._token, args)], expanded, score
            out += kept
            previous, done = drawn, stop
        return out + ids[done:]

    # --- grammar ----------------------------------------------------------------------------
    def grammar(self) -> str:
        """XGrammar EBNF of a drawable icon body with macros: the tokenizer's `grammar(drawable=True)` whose
        subpaths may also be macro calls; the first subpath draws (no <mirror>/<repeat> before any subpath)."""
        rules = dict(line.split(" ::= ", 1) for line in self.tokenizer.grammar(drawable=True).splitlines())
        element = rules.pop("element")
        rules.pop("root")
        return "\n".join([
            "root ::= first element*",
            f"first ::= {element.replace('subpath+', 'drawn subpath*')}",
            f"element ::= {element}",
            f'drawn ::= {rules.pop("subpath")} | "<circle>" pt pt | "<rrect>" pt pt pt',
            'subpath ::= drawn | "<mirror>" | "<repeat>" pt',
            *(f"{name} ::= {rule}" for name, rule in rules.items()),
        ])
