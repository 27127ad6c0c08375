"""Parse SVG path data (the `d` attribute) into a `Path` of absolute commands.

Plain numpy. The lexer is an anchored regex over a moving position, so its time is linear in the
input, and the command budget is checked before any array is built.
"""

from __future__ import annotations

import re

import numpy as np

from gfx.svg.document import ARITY, Path, SVGError
from gfx.svg.numbers import (
    MAX_MAGNITUDE,
    NEXT_NUMBER,
    NUMBER,
    SEPARATORS,
    TooManyError,
    in_range,
    snippet_at,
)

_NEXT_TOKEN = re.compile(rf"[\s,]*+(?:([A-Za-z])|({NUMBER}))", re.ASCII)
_PATH_LETTERS = "MmZzLlHhVvCcSsQqTtAa"


def parse_path_data(d: str, budget: int = 20_000, what: str = "path d") -> Path:
    """Parse SVG path data into absolute commands (H, V, S, Q, T, A kept; see `ARITY`).

    Relative commands become absolute, implicit repeats become explicit commands (after M: L),
    arc radii lose their sign. Numbers like `1.5.5`, `1e-3` and flags without separators
    (`a1 1 0 00 1 1`) follow the SVG grammar.

    Args:
        d: the `d` attribute.
        budget: the most commands to accept (checked before building arrays).
        what: a name for messages.

    Returns:
        A `Path` with the default style.

    Raises:
        SVGError: on a grammar error, or a coordinate not finite or beyond MAX_MAGNITUDE.
        TooManyError: on more than `budget` commands.
    """
    letters = sum(map(d.count, _PATH_LETTERS))
    if letters > budget:
        raise _too_many_commands(what, letters, budget)
    commands: list[str] = []
    coords: list[float] = []
    cx = cy = sx = sy = 0.0
    cmd = ""
    pos, end = 0, len(d)
    while True:
        m = _NEXT_TOKEN.match(d, pos)
        if m is None:
            pos = SEPARATORS.match(d, pos).end()
            if pos == end:
                break
            raise SVGError(
                f"{what} has {snippet_at(d, pos)} at offset {pos} where a command or number is expected"
            )
        letter = m.group(1)
        if letter:
            if letter not in _PATH_LETTERS:
                raise SVGError(f"{what} has the unknown command {letter!r} at offset {m.start(1)}")
            if not commands and letter not in "Mm":
                raise SVGError(f"{what} starts with {letter!r}; path data must start with M")
            cmd, pos = letter, m.end()
        elif not cmd:
            raise SVGError(f"{what} starts with a number; path data must start with M")
        elif cmd in "Zz":
            raise SVGError(f"{what} has the number {m.group(2)!r} after Z at offset {m.start(2)}")
        elif cmd in "Mm":
            cmd = "L" if cmd == "M" else "l"
        upper = cmd.upper()
        if len(commands) >= budget:
            raise _too_many_commands(what, len(commands) + 1, budget)
        if upper == "Z":
            commands.append("Z")
            cx, cy = sx, sy
            continue
        args = []
        for k in range(ARITY[upper]):
            if upper == "A" and k in (3, 4):
                pos = SEPARATORS.match(d, pos).end()
                flag = d[pos : pos + 1]
                if flag not in ("0", "1"):
                    raise SVGError(
                        f"{what} has {snippet_at(d, pos)} at offset {pos} where an arc flag 0 or 1 is expected"
                    )
                args.append(float(flag))
                pos += 1
                continue
            n = NEXT_NUMBER.match(d, pos)
            if n is None:
                at = SEPARATORS.match(d, pos).end()
                raise SVGError(
                    f"{what} has {snippet_at(d, at)} at offset {at} where a number for {cmd} is expected"
                )
            args.append(float(n.group(1)))
            pos = n.end()
        relative = cmd != upper
        if upper == "H":
            args[0] += cx if relative else 0.0
            cx = args[0]
        elif upper == "V":
            args[0] += cy if relative else 0.0
            cy = args[0]
        else:
            if upper == "A":
                args[0], args[1] = abs(args[0]), abs(args[1])
                first = 5
            else:
                first = 0
            if relative:
                for i in range(first, len(args), 2):
                    args[i] += cx
                    args[i + 1] += cy
            cx, cy = args[-2], args[-1]
            if upper == "M":
                sx, sy = cx, cy
        commands.append(upper)
        coords.extend(args)
    array = np.array(coords, dtype=np.float64)
    if not in_range(array):
        raise SVGError(f"{what} has a coordinate that is not finite or beyond {MAX_MAGNITUDE:g}")
    return Path("".join(commands), array)


def _too_many_commands(what: str, count: int, budget: int) -> TooManyError:
    return TooManyError(
        f"{what} has at least {count} path commands; the limit is {budget} (max_commands)", count
    )
