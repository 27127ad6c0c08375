"""README's figures come from the files they cite: a table row that links a JSON file (a model's metrics.json or
a bench result) may only state numbers that file holds."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)]+\.json)\)")
NUMBER = re.compile(r"(?<![\w.^])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e-?\d+)?(?![\w^])")


def numbers_in(value) -> list[float]:
    """Every number in a JSON value, recursively."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers_in(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers_in(v)]
    if isinstance(value, str):
        return [float(m.replace(",", "")) for m in NUMBER.findall(value)]
    return []


def stated(text: str) -> list[str]:
    """The figures a table row states, as written: decimals (0.911, 2.2, 1.5e-3), not link targets."""
    text = re.sub(r"\]\([^)]*\)", "]", text)  # drop link targets
    text = re.sub(r"`[^`]*`", "", text)  # and code (commands, flags, file names)
    return [m for m in NUMBER.findall(text) if "." in m or "e" in m]


def matches(figure: str, pool: list[float]) -> bool:
    value = float(figure.replace(",", ""))
    decimals = len(figure.split(".")[1].split("e")[0]) if "." in figure else 0
    tolerance = 0.5 * 10 ** (-decimals) + 1e-12
    if "e" in figure:
        return any(abs(value - p) <= abs(value) * 0.05 for p in pool)
    return any(abs(value - p) <= tolerance or abs(value - 100 * p) <= tolerance for p in pool)


def cited_rows(readme: str) -> list[tuple[str, Path]]:
    rows = []
    for line in readme.splitlines():
        if line.startswith("|") and (links := LINK.findall(line)):
            rows.extend((line, ROOT / link) for link in links[:1])
    return rows


def test_readme_cites_its_tables():
    rows = cited_rows((ROOT / "README.md").read_text())
    assert rows, "README's tables cite no JSON file"


def test_every_figure_in_a_cited_row_is_in_its_file():
    wrong = []
    for line, path in cited_rows((ROOT / "README.md").read_text()):
        assert path.is_file(), f"README cites {path.relative_to(ROOT)}, which does not exist"
        pool = numbers_in(json.loads(path.read_text()))
        wrong += [f"{figure} ({path.relative_to(ROOT)})" for figure in stated(line) if not matches(figure, pool)]
    assert not wrong, "README figures not found in the files their rows cite:\n" + "\n".join(wrong)


def test_the_check_catches_a_stale_figure(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"eval": {"mse": 0.0047, "bytes": 680}}))
    pool = numbers_in(json.loads(path.read_text()))
    assert all(matches(f, pool) for f in stated("| neural+refine | 0.0047 / 680 B |"))
    assert not all(matches(f, pool) for f in stated("| neural+refine | 0.066 / 931 B |"))
