"""Fixtures for the batch-job tests: corpus-like icons, bad inputs, job files, misbehaving kinds."""

import json
import random
from pathlib import Path

import pytest

HERE = Path(__file__).parent

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>"""

BAD_INPUTS = {
    # name: (file content, None for no file, "dir" for a directory, "huge" for a 65 MiB sparse file;
    #        a fragment of the expected error)
    "missing": (None, "FileNotFoundError: input"),
    "directory": ("dir", "is not a regular file"),
    "huge": ("huge", "bytes; the limit is 67108864 (MAX_INPUT_BYTES)"),
    "empty": (b"", "is empty"),
    "truncated": (b'<svg xmlns="http://www.w3.org/2000/svg"><path d="M1 1L', "not well-formed XML"),
    "binary": (bytes(range(256)) * 4, "SVGError"),
    "not-svg": (b"<html><body>hi</body></html>", "is not SVG"),
    "billion-laughs": (BILLION_LAUGHS.encode(), "internal subset"),
    "external-entity": (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
        "internal subset",
    ),
    "million-commands": (
        ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0' + "L1 1" * 10**6 + '"/></svg>').encode(),
        "max_commands",
    ),
    "nan": (b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="NaN"/></svg>', "is not a length"),
}


def icon_svg(seed: int) -> str:
    """A small Tabler-like stroke icon (24-unit viewBox, round caps) drawn from a seeded generator."""
    rng = random.Random(seed)
    shapes = []
    for _ in range(rng.randint(1, 4)):
        pick = rng.choice(["path", "circle", "rect", "polyline"])
        a, b, c, d = (rng.randint(3, 21) for _ in range(4))
        if pick == "path":
            shapes.append(f'<path d="M{a} {b}l{c - 12} {d - 12}a{rng.randint(2, 6)} 3 0 0 1 {b - 12} 2z"/>')
        elif pick == "circle":
            shapes.append(f'<circle cx="{a}" cy="{b}" r="{rng.randint(1, 8)}"/>')
        elif pick == "rect":
            shapes.append(
                f'<rect x="{min(a, c)}" y="{min(b, d)}" width="{abs(c - a) + 1}" height="{abs(d - b) + 1}" rx="2"/>'
            )
        else:
            shapes.append(f'<polyline points="{a} {b} {c} {d} {b} {a}"/>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="24" height="24" viewBox="0 0 24 24" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        + "".join(shapes)
        + "</svg>"
    )


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def mixed_batch(tmp_path):
    """Build a job file of `n` good icons with every BAD_INPUTS case mixed in.

    Returns (jobs path, good ids, {bad id: expected error fragment}).
    """

    def build(n: int, sizes=(32,), extra_rows=()):
        icons = tmp_path / "icons"
        icons.mkdir(exist_ok=True)
        rows, good = [], []
        for i in range(n):
            (icons / f"icon{i}.svg").write_text(icon_svg(i))
            good.append(f"icon{i}")
            rows.append(
                {"id": f"icon{i}", "kind": "render-svg", "input": f"icons/icon{i}.svg", "sizes": list(sizes)}
            )
        for k, (name, (content, _)) in enumerate(BAD_INPUTS.items()):
            if content == "dir":
                (icons / name).mkdir(exist_ok=True)
            elif content == "huge":
                with open(icons / name, "wb") as f:
                    f.truncate(65 << 20)
            elif content is not None:
                (icons / name).write_bytes(content)
            rows.insert(
                k * (n // len(BAD_INPUTS) + 1), {"id": name, "kind": "render-svg", "input": f"icons/{name}"}
            )
        expected = {name: fragment for name, (_, fragment) in BAD_INPUTS.items()}
        return write_jsonl(tmp_path / "jobs.jsonl", [*rows, *extra_rows]), good, expected

    return build


@pytest.fixture
def test_kinds(monkeypatch):
    """The registry plus the `misbehave` kind, importable by worker processes."""
    monkeypatch.syspath_prepend(str(HERE))
    import jobs_test_kinds

    return jobs_test_kinds.TEST_KINDS
