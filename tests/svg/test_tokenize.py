"""SVG tokenizers: exact round trips, render equivalence, grammar == is_valid == decode, files, FIM."""

from __future__ import annotations

import functools
import json
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfx.svg.core.document import (
    Circle,
    ClipPath,
    Document,
    Ellipse,
    Line,
    LinearGradient,
    Mask,
    Path,
    Polygon,
    Polyline,
    RadialGradient,
    Rect,
    Stop,
    Style,
    SVGError,
)
from gfx.svg.core.metrics import mse
from gfx.svg.core.render import render as gfx_render
from gfx.svg.core.render import to_rgb
from gfx.svg.tokenizers.registry import (
    TOKENIZERS,
    PathTokenizer,
    SemanticTokenizer,
    Tokenizer,
    count_tokens,
    load_tokenizer,
    tokenizer_from_dict,
)
from gfx.svg.tokenizers.vocab import BrokenSequence

VIEW = (0.0, 0.0, 24.0, 24.0)
K = 0.5523  # quarter-circle cubic control distance
ROUND = dict(stroke_linecap="round", stroke_linejoin="round")
LINE_ICON = Style(fill=None, stroke="#000000", stroke_width=2.0, **ROUND)


def circle_path(cx: float, cy: float, r: float, style: Style) -> Path:
    """A circle as four cubics (what normalize(to_paths=True) produces for <circle>)."""
    k = K * r
    coords = [cx + r, cy,
              cx + r, cy + k, cx + k, cy + r, cx, cy + r,
              cx - k, cy + r, cx - r, cy + k, cx - r, cy,
              cx - r, cy - k, cx - k, cy - r, cx, cy - r,
              cx + k, cy - r, cx + r, cy - k, cx + r, cy]  # fmt: skip
    return Path("MCCCCZ", coords, style)


def path_icons() -> dict[str, Document]:
    """Normalized (paths only) icons in the three corpus styles, some coordinates off the grid."""
    return {
        # Lucide/Tabler outline: round caps and joins, width 2, open and closed subpaths
        "stroke": Document(
            VIEW,
            [
                circle_path(12.0, 12.0, 9.0, LINE_ICON),
                Path("MLML", [12.0, 7.0, 12.0, 12.0, 12.0, 12.0, 15.5, 14.25], LINE_ICON),
                Path("MCL", [3.1, 20.9, 6.35, 17.2, 9.7, 17.15, 11.4, 19.0, 20.93, 20.9], LINE_ICON),
            ],
        ),  # fmt: skip
        # MDI: one filled path with an even-odd hole
        "fill": Document(
            VIEW,
            [
                Path(
                    "MLLLLZMLLLZ",
                    [
                        2.04,
                        10.97,
                        12.0,
                        2.02,
                        21.96,
                        10.97,
                        19.03,
                        21.98,
                        4.97,
                        21.98,
                        9.02,
                        20.0,
                        9.02,
                        14.03,
                        14.98,
                        14.03,
                        14.98,
                        20.0,
                    ],
                    Style(fill_rule="evenodd"),
                ),
                circle_path(12.0, 9.5, 1.55, Style(fill="#ffffff", stroke=None)),
            ],
        ),  # fmt: skip
        # mixed: fill + stroke with square caps and bevel joins, thin stroke
        "mixed": Document(
            VIEW,
            [
                Path(
                    "MLLZ",
                    [4.1, 4.05, 19.9, 4.05, 12.01, 18.2],
                    Style(
                        fill="#000000",
                        stroke="#000000",
                        stroke_width=1.0,
                        stroke_linecap="square",
                        stroke_linejoin="bevel",
                    ),
                ),
                Path("ML", [3.0, 21.0, 21.0, 21.0], Style(fill=None, stroke="#000000", stroke_width=0.75)),
            ],
        ),  # fmt: skip
    }


def semantic_icons() -> dict[str, Document]:
    """Documents normalized with to_paths=False: every element type, palette colours."""
    return {
        "shapes": Document(
            VIEW,
            [
                Circle(12.0, 12.0, 10.0, LINE_ICON),
                Line(12.0, 6.96, 12.0, 12.0, LINE_ICON),
                Polyline([[12.0, 12.0], [15.03, 14.01], [16.0, 17.0]], LINE_ICON),
                Rect(3.0, 3.0, 6.0, 4.02, rx=1.0, style=Style(fill="#000000")),
            ],
        ),  # fmt: skip
        "colour": Document(
            VIEW,
            [
                Ellipse(12.0, 13.0, 9.0, 7.0, Style(fill="#ffaa00")),
                Polygon([[6.0, 4.0], [18.0, 4.0], [12.0, 10.97]], Style(fill="#0055aa", fill_rule="evenodd")),
                Path(
                    "MCZ",
                    [5.0, 15.0, 8.0, 20.0, 16.0, 20.0, 19.0, 15.0],
                    Style(fill="#ffffff", stroke="#aa0000", stroke_width=1.5, opacity=0.5),
                ),
                Rect(1.0, 1.0, 22.0, 22.0, style=Style(fill=None, stroke="#555555", stroke_width=0.5)),
            ],
        ),  # fmt: skip
    }


def render(doc: Document, size: int = 128) -> np.ndarray:
    """(size, size, 3) uint8, cairosvg on white."""
    return to_rgb(gfx_render(doc, size=size, background="white"))


def monochrome(doc: Document) -> Document:
    """What the path scheme keeps of colour: every painted part black."""
    black = [
        Path(e.commands, e.coords, e.style.replace(fill="#000000" if e.style.fill else None,
                                                   stroke="#000000" if e.style.stroke else None))
        for e in doc.elements
    ]  # fmt: skip
    return Document(doc.view_box, black)


# --- hypothesis strategies --------------------------------------------------------------------
coord = st.floats(-3.0, 27.0, allow_nan=False)
point = st.tuples(coord, coord)
STOPS = (Stop(0.0, "#ff0000"), Stop(0.25, "#00ff00", 0.5), Stop(1.0, "#0000ff"))
gradients = st.one_of(
    st.builds(LinearGradient, coord, coord, coord, coord, st.just(STOPS), st.sampled_from(["pad", "reflect"])),
    st.builds(
        RadialGradient, coord, coord, st.floats(0.5, 20.0), coord, coord, st.just(STOPS),
        transform=st.sampled_from([(1.0, 0, 0, 1.0, 0, 0), (0.9, 0.2, -0.6, 1.3, 4.0, 1.0)]),
    ),
)  # fmt: skip
styles = st.builds(
    Style,
    fill=st.one_of(st.sampled_from([None, "#000000", "#123456", "#ffffff"]), gradients),
    stroke=st.sampled_from([None, "#000000", "#fe0102"]),
    stroke_width=st.floats(0.1, 5.0),
    opacity=st.sampled_from([1.0, 0.5, 0.0]),
    fill_opacity=st.sampled_from([1.0, 0.25]),
    fill_rule=st.sampled_from(["nonzero", "evenodd"]),
    stroke_linecap=st.sampled_from(["butt", "round", "square"]),
    stroke_linejoin=st.sampled_from(["miter", "round", "bevel"]),
)


@st.composite
def normal_paths(draw, style=styles) -> Path:
    commands, coords = "", []
    for _ in range(draw(st.integers(1, 3))):
        commands += "M"
        coords += draw(point)
        for c in draw(st.lists(st.sampled_from("LCZ"), max_size=6)):
            if c == "Z" and commands[-1] == "Z":
                continue
            commands += c
            coords += [v for _ in range({"L": 1, "C": 3, "Z": 0}[c]) for v in draw(point)]
    return Path(commands, coords, draw(style))


@st.composite
def semantic_elements(draw):
    kind = draw(st.sampled_from(["path", "circle", "ellipse", "rect", "line", "polyline", "polygon"]))
    style = draw(styles)
    length = st.floats(0.0, 30.0)
    if kind == "path":
        return draw(normal_paths(style=st.just(style)))
    if kind == "circle":
        return Circle(draw(coord), draw(coord), draw(length), style)
    if kind == "ellipse":
        return Ellipse(draw(coord), draw(coord), draw(length), draw(length), style)
    if kind == "rect":
        return Rect(draw(coord), draw(coord), draw(length), draw(length), draw(length), draw(length), style)
    if kind == "line":
        return Line(draw(coord), draw(coord), draw(coord), draw(coord), style)
    cls = Polyline if kind == "polyline" else Polygon
    return cls(np.array(draw(st.lists(point, min_size=1, max_size=5))), style)


# --- xgrammar ---------------------------------------------------------------------------------
@functools.cache
def compiled(tok_key: tuple):
    xgr = pytest.importorskip("xgrammar")
    tok = make_tokenizer(tok_key)
    info = xgr.TokenizerInfo(
        tok.vocab, xgr.VocabType.RAW, vocab_size=tok.vocab_size, stop_token_ids=[tok.eos_id]
    )
    return xgr.GrammarCompiler(info, max_threads=1).compile_grammar(tok.grammar())


@functools.cache
def make_tokenizer(key: tuple):
    scheme, overrides = key[0], dict(key[1:])
    return TOKENIZERS[scheme](**overrides)


PATH, SEMANTIC, SMALL_PATH = ("path",), ("semantic",), ("path", ("grid", 4), ("stroke_widths", (1.0, 2.0)))


def allowed(matcher, vocab_size: int) -> np.ndarray:
    """(V,) bool: tokens the grammar allows next."""
    import xgrammar as xgr

    bitmask = xgr.allocate_token_bitmask(1, vocab_size)
    matcher.fill_next_token_bitmask(bitmask)
    bits = np.unpackbits(bitmask.numpy().view(np.uint8), bitorder="little")
    return bits[:vocab_size].astype(bool)


def prefix_ok(tok, body: list[int]) -> bool:
    """The Python parser's view: `body` can still be extended to a valid sequence."""
    try:
        tok._parse(body, strict=True)
    except BrokenSequence as err:
        return err.position == len(body)
    return True


def assert_grammar_accepts(tok_key: tuple, ids: list[int]) -> None:
    """Every body token is accepted in turn and EOS is allowed exactly where is_valid holds."""
    import xgrammar as xgr

    tok = make_tokenizer(tok_key)
    matcher = xgr.GrammarMatcher(compiled(tok_key))
    bitmask = xgr.allocate_token_bitmask(1, tok.vocab_size)
    body = ids[1:-1]
    for i, t in enumerate(body):
        matcher.fill_next_token_bitmask(bitmask)
        eos_allowed = bool((int(bitmask[0, tok.eos_id // 32]) >> (tok.eos_id % 32)) & 1)
        assert eos_allowed == tok.is_valid(body[:i]), f"EOS at {i}"
        assert matcher.accept_token(t), f"grammar refused {tok.token_strings([t])} at {i}"
    assert matcher.accept_token(tok.eos_id) and matcher.is_terminated()


# --- tests: round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["stroke", "fill", "mixed"])
def test_path_round_trip_is_exact_on_the_grid_and_renders_the_same(name):
    tok = PathTokenizer()
    doc = path_icons()[name]
    ids = tok.encode(doc)
    decoded = tok.decode(ids)
    assert tok.encode(decoded) == ids
    assert tok.is_valid(ids)
    assert all(
        np.abs(a.coords - b.coords).max() <= 0.05 + 1e-9
        for a, b in zip(doc.elements, decoded.elements, strict=True)
    )
    assert mse(render(monochrome(doc)), render(decoded)) < 1e-3


@pytest.mark.parametrize("name", ["shapes", "colour"])
def test_semantic_round_trip_keeps_element_types_and_rendering(name):
    tok = SemanticTokenizer()
    doc = semantic_icons()[name]
    ids = tok.encode(doc)
    decoded = tok.decode(ids)
    assert [type(e) for e in decoded.elements] == [type(e) for e in doc.elements]
    assert tok.encode(decoded) == ids
    assert mse(render(doc), render(decoded)) < 1e-3


def test_semantic_round_trip_keeps_gradients_opacity_clip_paths_and_masks():
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    tok = SemanticTokenizer()
    path = pathlib.Path(__file__).parent / "fixtures" / "gradients_clips_and_masks.svg"
    doc = normalize(parse_svg(path.read_text()), to_paths=False)
    ids = tok.encode(doc)
    decoded = tok.decode(ids)
    assert tok.encode(decoded) == ids
    assert mse(render(doc), render(decoded)) < 1e-3
    words = set(tok.token_strings(ids))
    for token in ("<linearGradient>", "<radialGradient>", "<stop>", "clip-path=", "mask=", "stroke-opacity="):
        assert token in words, token
    assert_grammar_accepts(SEMANTIC, ids)


def test_render_check_detects_a_visible_change():
    tok = PathTokenizer()
    doc = path_icons()["stroke"]
    butt = tok.decode(tok.encode(Document(VIEW, [Path(e.commands, e.coords, e.style.replace(
        stroke_linecap="butt", stroke_width=1.0)) for e in doc.elements])))  # fmt: skip
    assert mse(render(doc), render(butt)) > 1e-3


def test_path_tokens_match_the_documented_example():
    tok = PathTokenizer()
    doc = Document(
        VIEW,
        [
            Path("ML", [2, 2, 22, 22], LINE_ICON),
            Path("MLLZ", [12, 2, 22, 22, 2, 22], Style(fill_rule="evenodd")),
        ],
    )
    assert " ".join(tok.token_strings(tok.encode(doc))) == (
        "<bos> <stroke> <w2> <cap_round> <join_round> M <p20_20> L <p220_220> "
        "<fill> <evenodd> M <p120_20> L <p220_220> L <p20_220> Z <eos>"
    )
    assert tok.vocab_size == 32 + 241 * 241 and tok.vocab[tok.point_base + 3 + 5 * 241] == "<p3_5>"
    assert tok.point_xy([tok.point_base + 3 + 5 * 241, tok.bos_id]).tolist() == [[3, 5], [-1, -1]]


def test_semantic_tokens_match_the_documented_example():
    tok = SemanticTokenizer()
    half = ClipPath((Path("MLLZ", [0, 0, 12, 0, 12, 24]),))
    doc = Document(VIEW, [
        Circle(12, 12, 3, Style(fill=None, stroke="#000000", stroke_width=2, stroke_linecap="round")),
        Path("MLZ", [2, 2, 22, 22], Style(fill="#ff8000", opacity=0.5, clip=(half,))),
    ])  # fmt: skip
    assert " ".join(tok.token_strings(tok.encode(doc))) == (
        "<bos> <circle> cx= <12> cy= <12> r= <3> fill= <none> stroke= <#00> <#00> <#00> stroke-width= <2> "
        "stroke-linecap= <round> <g> clip-path= <clipPath> d= M <0> <0> L <12> <0> L <12> <24> Z </clipPath> "
        "<path> d= M <2> <2> L <22> <22> Z fill= <#ff> <#80> <#00> opacity= <50%> </g> <eos>"
    )
    assert tok.vocab[tok.num_base] == "<-4>" and tok.vocab[-1] == "<28>" and tok.vocab_size == 926


def test_points_are_rounded_and_clipped_to_the_grid():
    doc = Document(VIEW, [Path("MLL", [-5.0, 30.0, 0.049, 0.051, 23.99, 12.34])])
    decoded = PathTokenizer().decode(PathTokenizer().encode(doc))
    assert decoded.elements[0].coords.tolist() == [0.0, 24.0, 0.0, 0.1, 24.0, 12.3]
    eighth = PathTokenizer(grid=193, margin=8)  # 1/8 unit, one unit beyond each edge
    decoded = eighth.decode(eighth.encode(doc))
    assert decoded.elements[0].coords.tolist() == [-1.0, 25.0, 0.0, 0.0, 24.0, 12.375]


def test_cubics_with_control_points_off_the_canvas_are_split_not_clipped():
    # an arc whose control points overhang the top edge (as in MDI "copyright"); the curve stays inside
    doc = Document(
        VIEW,
        [
            Path(
                "MC",
                [4.0, 12.0, 4.5, -1.5, 19.5, -1.5, 20.0, 12.0],
                Style(fill=None, stroke="#000000", stroke_width=2.0),
            )
        ],
    )
    tok = PathTokenizer()
    ids = tok.encode(doc)
    decoded = tok.decode(ids)
    assert decoded.elements[0].commands.count("C") > 1
    assert tok.encode(decoded) == ids
    assert mse(render(doc), render(decoded)) < 5e-4
    clipped = Document(VIEW, [Path("MC", np.clip(doc.elements[0].coords, 0, 24), doc.elements[0].style)])
    assert mse(render(doc), render(clipped)) > 1e-3  # what clipping alone would have drawn
    outside = Document(VIEW, [Path("MC", [-2.0, 12.0, -3.0, 30.0, 27.0, 30.0, 26.0, 12.0])])
    assert tok.decode(tok.encode(outside)).elements[0].commands == "MC"  # a curve off the canvas is clipped


def test_close_then_draw_gets_an_explicit_move_and_repeated_close_is_dropped():
    tok = PathTokenizer()
    doc = Document(VIEW, [Path("MLZLZZ", [1, 1, 5, 1, 5, 5])])
    decoded = tok.decode(tok.encode(doc))
    assert decoded.elements[0].commands == "MLZMLZ"
    assert decoded.elements[0].coords.tolist() == [1, 1, 5, 1, 1, 1, 5, 5]


def test_invisible_and_empty_paths_are_skipped_and_colour_becomes_black():
    tok = PathTokenizer()
    doc = Document(VIEW, [
        Path("ML", [1, 1, 2, 2], Style(fill=None, stroke=None)),
        Path("ML", [1, 1, 2, 2], Style(opacity=0.0)),
        Path("", [], Style()),
        Path("MLL", [1, 1, 9, 1, 9, 9], Style(fill="#ff0000", stroke="#00ff00", stroke_width=9.0)),
    ])  # fmt: skip
    decoded = tok.decode(tok.encode(doc))
    assert len(decoded.elements) == 1
    s = decoded.elements[0].style
    assert (s.fill, s.stroke, s.stroke_width) == ("#000000", "#000000", 4.0)


def test_encode_refuses_unnormalized_documents():
    tok = PathTokenizer()
    with pytest.raises(SVGError, match="to_paths=True"):
        tok.encode(Document(VIEW, [Circle(1, 1, 1)]))
    with pytest.raises(SVGError, match="viewBox"):
        tok.encode(Document((0, 0, 100, 100), [Path("ML", [1, 1, 2, 2])]))
    with pytest.raises(SVGError, match="normalize"):
        SemanticTokenizer().encode(Document(VIEW, [Path("MA", [1, 1, 1, 1, 0, 0, 1, 3, 3])]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(normal_paths(), max_size=4))
def test_path_random_documents_reencode_identically(paths):
    tok = make_tokenizer(PATH)
    ids = tok.encode(Document(VIEW, paths))
    assert tok.is_valid(ids)
    assert tok.encode(tok.decode(ids)) == ids
    assert_grammar_accepts(PATH, ids)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(semantic_elements(), max_size=4), st.integers(0, 4), st.integers(0, 4), st.booleans())
def test_semantic_random_documents_reencode_identically(elements, start, end, masked):
    tok = make_tokenizer(SEMANTIC)
    layer = (
        Mask((Circle(12.0, 12.0, 8.0, Style(fill="#808080")),), (0.0, 0.0, 24.0, 24.0))
        if masked
        else ClipPath((Path("MLLZ", [0.0, 0.0, 20.0, 0.0, 10.0, 20.0]),))
    )
    for i in range(min(start, end), max(start, end)):  # a run of elements in one group
        if i < len(elements):
            elements[i].style = elements[i].style.replace(**{"mask" if masked else "clip": (layer,)})
    ids = tok.encode(Document(VIEW, elements))
    assert tok.is_valid(ids)
    decoded = tok.decode(ids)
    assert tok.encode(decoded) == ids
    assert len(decoded.elements) == len(tok.element_starts(ids)) - masked * ids.count(tok.id_of["<mask-content>"])
    assert_grammar_accepts(SEMANTIC, ids)


# --- tests: decode tolerance, is_valid ---------------------------------------------------------
def test_decode_ignores_specials_and_stops_at_eos():
    tok = PathTokenizer()
    ids = tok.encode(path_icons()["fill"])
    noisy = [tok.pad_id, *ids[:5], tok.mask_id, tok.pad_id, *ids[5:], tok.command_ids["L"], tok.eos_id]
    assert tok.encode(tok.decode(noisy)) == ids


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_strict_decode_names_the_bad_token_and_lenient_decode_keeps_the_complete_part(scheme):
    tok = make_tokenizer((scheme,))
    doc = path_icons()["stroke"] if scheme == "path" else semantic_icons()["shapes"]
    ids = tok.encode(doc)
    cut = ids[:-4]  # ends inside the last element
    with pytest.raises(SVGError, match="ends early"):
        tok.decode(cut)
    kept = tok.decode(cut, strict=False)
    # the path scheme keeps the last path's complete commands; the semantic one drops the unfinished <rect>
    assert len(kept.elements) == len(doc.elements) - (scheme == "semantic")
    assert tok.encode(kept) == ids[: len(tok.encode(kept)) - 1] + [tok.eos_id]
    broken = ids[:-1] + [ids[-2]] + ids[1:]  # a stray argument token after a complete element
    with pytest.raises(SVGError, match="invalid .* token"):
        tok.decode(broken)
    assert tok.encode(tok.decode(broken, strict=False)) == ids


def test_path_is_valid_refuses_structural_errors():
    tok = PathTokenizer()
    p = tok.point_base
    M, L, C, Z = (tok.command_ids[c] for c in "MLCZ")
    fill, stroke, _ = tok.paint_ids
    w2 = tok.width_ids[6]
    good = [fill, M, p, L, p + 1, Z]
    assert tok.is_valid(good) and tok.is_valid([tok.bos_id, *good, tok.eos_id]) and tok.is_valid([])
    for bad in (
        [M, p],  # no style
        [stroke, M, p],  # stroke needs a width
        [fill, tok.cap_ids["round"], M, p],  # caps only on strokes
        [stroke, w2, tok.evenodd_id, M, p],  # evenodd only on fills
        [stroke, w2, tok.join_ids["round"], tok.cap_ids["round"], M, p],  # order
        [fill, L, p],  # subpath must start with M
        [fill, M, p, Z, L, p],  # after Z comes M
        [fill, M, p, C, p, p],  # C takes three points
        [fill],  # element without subpath
        [fill, M, p, tok.mask_id],  # specials are not part of the body
        [fill, M, tok.vocab_size],  # out of range
    ):
        assert not tok.is_valid(bad), tok.token_strings(bad)


def test_semantic_is_valid_refuses_structural_errors():
    tok = SemanticTokenizer()
    ids = {s: i for i, s in enumerate(tok.vocab)}
    seq = lambda text: [ids[s] for s in text.split()]  # noqa: E731
    assert tok.is_valid(seq("<rect> x= <1> y= <1> width= <2> height= <2> ry= <1> opacity= <50%>"))
    gradient = "fill= <linearGradient> x1= <0> y1= <0> x2= <1> y2= <0> <stop> <0%> <#ff> <#00> <#00>"
    clip = "<g> clip-path= <clipPath> d= M <0> <0> L <1> <0> L <1> <1> Z </clipPath>"
    assert tok.is_valid(seq(f"{clip} <circle> cx= <1> cy= <1> r= <1> {gradient} <stop> <100%> <#ff> <#ff> <#ff> </g>"))
    for bad in (
        f"<circle> cx= <1> cy= <1> r= <1> {gradient}",  # a gradient needs two stops
        f"{clip} <circle> cx= <1> cy= <1> r= <1>",  # the group is not closed
        "<g> <circle> cx= <1> cy= <1> r= <1> </g>",  # a group without clip-path= or mask=
        "<g> mask= <mask-content> </g>",  # the mask content is not closed
        "<circle> cx= <1> cy= <1> r= <1> fill= <#ff> <#00>",  # a colour is three channels
        "<circle> cx= <1> cy= <1> r= <1> </g>",  # a group end outside a group
        "<circle> cx= <1> cy= <1>",  # missing r
        "<circle> cx= <1> cy= <1> r= <-1>",  # negative radius
        "<circle> cy= <1> cx= <1> r= <1>",  # order
        "<path> d= L <1> <1>",  # starts with L
        "<path> d= M <1> <1> Z Z",  # double close
        "<polyline> points= <1> <2> <3>",  # odd number count
        "<line> x1= <1> y1= <1> x2= <2> y2= <2> opacity= <2>",  # opacity above 1
        "<line> x1= <1> y1= <1> x2= <2> y2= <2> stroke-width= <1> fill= <none>",  # style order
        "<rect> x= <1> y= <1> width= <2> height= <2> ry= <1> rx= <1>",  # rx before ry
    ):
        assert not tok.is_valid(seq(bad)), bad


# --- tests: grammar == is_valid ----------------------------------------------------------------
@pytest.mark.parametrize("key", [SMALL_PATH, SEMANTIC])
def test_grammar_mask_equals_python_parser_on_random_walks(key):
    """At every step of random walks, the XGrammar mask equals the set of tokens the Python parser
    accepts as a prefix, and EOS is allowed exactly where is_valid holds."""
    import xgrammar as xgr

    tok = make_tokenizer(key)
    rng = np.random.default_rng(0)
    steps = 0
    for _ in range(25 if key == SMALL_PATH else 6):
        matcher, body = xgr.GrammarMatcher(compiled(key)), []
        for _ in range(rng.integers(5, 40)):
            mask = allowed(matcher, tok.vocab_size)
            mine = np.array(
                [prefix_ok(tok, body + [t]) and t not in tok.special_ids for t in range(tok.vocab_size)]
            )
            mine[tok.eos_id] = tok.is_valid(body)
            assert np.array_equal(mask, mine), (tok.token_strings(body), np.flatnonzero(mask != mine))
            choices = np.flatnonzero(mask & (np.arange(tok.vocab_size) != tok.eos_id))
            if not len(choices):
                break
            body.append(int(rng.choice(choices)))
            assert matcher.accept_token(body[-1])
            steps += 1
    assert steps > 100


def test_grammar_refuses_invalid_sequences():
    import xgrammar as xgr

    tok = make_tokenizer(PATH)
    p, (M, L, _, Z) = tok.point_base, (tok.command_ids[c] for c in "MLCZ")
    fill = tok.paint_ids[0]
    for bad in ([M, p], [fill, L, p], [fill, M, p, Z, L, p], [fill, M, tok.bos_id]):
        matcher = xgr.GrammarMatcher(compiled(PATH))
        accepted = [matcher.accept_token(t) for t in bad]
        assert not all(accepted), tok.token_strings(bad)
    matcher = xgr.GrammarMatcher(compiled(PATH))
    assert matcher.accept_token(fill) and matcher.accept_token(M)
    assert not matcher.accept_token(tok.eos_id)  # M needs its point before EOS


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_fixture_icons_are_accepted_by_the_grammar(scheme):
    tok = make_tokenizer((scheme,))
    icons = path_icons() if scheme == "path" else semantic_icons()
    for doc in icons.values():
        assert_grammar_accepts((scheme,), tok.encode(doc))


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_vocabulary_is_prefix_free_and_descriptions_cover_it(scheme):
    tok = make_tokenizer((scheme,))
    words = sorted(tok.vocab)
    assert len(set(words)) == len(words)
    assert not [(a, b) for a, b in zip(words[:-1], words[1:], strict=True) if b.startswith(a)]
    assert list(tok.descriptions) == tok.vocab and all(tok.descriptions.values())
    assert isinstance(tok, Tokenizer)


def test_semantic_descriptions_are_plain_words():
    d = SemanticTokenizer().descriptions
    assert d["<circle>"] == "circle element" and d["C"] == "cubic Bezier curve"
    assert d["<#ff>"] == "colour channel 255 of 255" and d["<12.5>"] == "number 12.5" and d["<none>"].startswith("no colour")
    assert d["<50%>"] == "50 percent" and d["<30deg>"] == "angle 30 degrees" and d["<g>"] == "group start"


# --- tests: files, FIM, counts ------------------------------------------------------------------
@pytest.mark.parametrize(
    "tok", [PathTokenizer(grid=65, stroke_widths=(1.0, 2.0)), SemanticTokenizer(colour_levels=3)]
)
def test_save_load_round_trip(tmp_path, tok):
    path = tok.save(tmp_path)
    assert path.name == "tokenizer.json"
    saved = json.loads(path.read_text())
    assert saved["scheme"] == tok.scheme and saved["vocab_size"] == tok.vocab_size
    loaded = load_tokenizer(tmp_path)
    assert type(loaded) is type(tok) and loaded.config == tok.config and loaded.vocab == tok.vocab
    assert type(tok).load(path).vocab == tok.vocab


def test_load_fails_loudly_on_unknown_scheme_key_or_layout_change(tmp_path):
    data = PathTokenizer().to_dict()
    with pytest.raises(KeyError, match="path, semantic"):
        tokenizer_from_dict({**data, "scheme": "bpe"})
    with pytest.raises(ValueError, match="unknown keys"):
        tokenizer_from_dict({**data, "config": {**data["config"], "gird": 10}})
    with pytest.raises(SVGError, match="layout changed"):
        tokenizer_from_dict({**data, "vocab_hash": "0" * 16})
    with pytest.raises(SVGError, match="reads 'semantic'"):
        SemanticTokenizer.from_dict(data)
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_fim_split_and_join_are_inverse():
    tok = PathTokenizer()
    ids = tok.encode(path_icons()["stroke"])
    starts = tok.element_starts(ids)
    assert [tok.vocab[ids[i]] for i in starts] == ["<stroke>"] * 3
    s, e = starts[1], starts[2]
    fim = tok.fim_split(ids, s, e)
    assert fim == ids[:s] + [tok.mask_id] + ids[e:] + [tok.mask_id] + ids[s:e] + [tok.eom_id]
    assert fim[len(ids) - (e - s)] == tok.eos_id  # prefix MASK suffix(with EOS) MASK middle EOM
    assert tok.fim_join(fim) == ids
    assert tok.fim_join(fim + [tok.pad_id, tok.pad_id]) == ids
    for s, e in [(1, 1), (1, len(ids) - 1), (5, 9)]:
        assert tok.fim_join(tok.fim_split(ids, s, e)) == ids
    with pytest.raises(SVGError, match="two <mask>"):
        tok.fim_join(ids)
    with pytest.raises(SVGError, match="outside"):
        tok.fim_split(ids, 3, len(ids) + 1)


def test_count_tokens():
    doc = Document(VIEW, [Path("MLC", [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])])
    assert count_tokens(doc) == 1 + 2 + 2 + 4
    assert count_tokens(doc, scheme="semantic") == 2 + 3 + 3 + 7
    with pytest.raises(KeyError, match="valid names"):
        count_tokens(doc, scheme="bpe")


# --- tests: the real corpus ---------------------------------------------------------------------
def corpus_round_trip_pass_rate(scheme: str, every: int) -> float:
    """Share of corpus icons (every `every`-th) whose normalize -> encode -> decode render is within
    MSE 1e-3 of the original SVG's render at 128 px."""
    from gfx.data.icons import load_icons
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg

    tok = make_tokenizer((scheme,))
    records = load_icons()[::every]
    passed = 0
    for record in records:
        doc = normalize(parse_svg(record.original), to_paths=scheme == "path")
        passed += mse(to_rgb(gfx_render(record.original)), render(tok.decode(tok.encode(doc)))) <= 1e-3
    return passed / len(records)


@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_corpus_sample_round_trips_within_render_tolerance(scheme):
    assert corpus_round_trip_pass_rate(scheme, every=79) >= 0.98  # 201 icons


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["path", "semantic"])
def test_whole_corpus_round_trips_within_render_tolerance(scheme):
    assert corpus_round_trip_pass_rate(scheme, every=1) >= 0.99
