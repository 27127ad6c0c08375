"""Parse SVG path data (the `d` attribute) into a `Path` of absolute commands.

Plain numpy. The lexer is an anchored regex over a moving position, so its time is linear in the
input, and the command budget is checked before any array is built.
"""

from __future__ import annotations

import re

import numpy as np

from gfx.svg.core.document import ARITY, Path, SVGError
from gfx.svg.core.numbers import (
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
# The plain form of path data: command letters (no arcs) each followed by numbers without exponents.
_PLAIN_PATH = re.compile(r"(?:[\s,]*+[MmZzLlHhVvCcSsQqTt][\d\s,.+-]*+)*+[\s,]*+", re.ASCII)
_PLAIN_SEGMENT = re.compile(r"([MmZzLlHhVvCcSsQqTt])([\d\s,.+-]*+)", re.ASCII)
_PLAIN_ARGUMENTS = re.compile(rf"(?:[\s,]*+{NUMBER})*+[\s,]*+", re.ASCII)
_NUMBER = re.compile(NUMBER, re.ASCII)


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
    commands = _plain_commands(d, budget)
    if commands is None:  # arcs, exponents, or an error: the careful lexer, which also names the error
        commands = _lexed_commands(d, budget, what)
    return _absolute_path(commands, what)


def _plain_commands(d: str, budget: int) -> list[tuple[str, list[float]]] | None:
    """`_lexed_commands` for path data in the plain form (most icons), with one regex pass per command
    instead of one per number; None for anything else (arcs, exponents, grammar errors, over budget)."""
    if len(d) > 32 * budget or not _PLAIN_PATH.fullmatch(d):  # huge: the lexer stops at the budget sooner
        return None
    commands: list[tuple[str, list[float]]] = []
    for letter, text in _PLAIN_SEGMENT.findall(d):
        if not _PLAIN_ARGUMENTS.fullmatch(text):
            return None
        numbers = _NUMBER.findall(text)
        if not commands and letter not in "Mm":
            return None
        if letter in "Zz":
            if numbers:
                return None
            commands.append(("Z", []))
            continue
        arity = ARITY[letter.upper()]
        if not numbers or len(numbers) % arity or len(commands) + len(numbers) // arity > budget:
            return None
        numbers = [float(x) for x in numbers]
        for k in range(0, len(numbers), arity):
            commands.append((letter, numbers[k : k + arity]))
            letter = {"M": "L", "m": "l"}.get(letter, letter)  # implicit repeats after M are line-tos
    return commands


def _lexed_commands(d: str, budget: int, what: str) -> list[tuple[str, list[float]]]:
    """Path data -> [(command letter as written, its numbers)], implicit repeats made explicit."""
    commands: list[tuple[str, list[float]]] = []
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
            commands.append(("Z", []))
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
        commands.append((cmd, args))
    return commands


def _absolute_path(commands: list[tuple[str, list[float]]], what: str) -> Path:
    """Relative commands -> absolute ones (H, V, arcs with unsigned radii), as a `Path`."""
    letters: list[str] = []
    coords: list[float] = []
    cx = cy = sx = sy = 0.0
    for cmd, args in commands:
        upper = cmd.upper()
        if upper == "Z":
            letters.append("Z")
            cx, cy = sx, sy
            continue
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
        letters.append(upper)
        coords.extend(args)
    array = np.array(coords, dtype=np.float64)
    if not in_range(array):
        raise SVGError(f"{what} has a coordinate that is not finite or beyond {MAX_MAGNITUDE:g}")
    return Path("".join(letters), array)


def _too_many_commands(what: str, count: int, budget: int) -> TooManyError:
    return TooManyError(
        f"{what} has at least {count} path commands; the limit is {budget} (max_commands)", count
    )
