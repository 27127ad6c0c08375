"""Image intake, colour layers and the classical tracers of `gfx.svg.vectorization.vectorizer`; the `gfx.svg.vectorize` API."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gfx.svg.core.metrics import is_valid_svg, mse
from gfx.svg.core.render import render, to_rgb
from gfx.svg.vectorization.vectorizer import color_layers, fidelity, load_image, square_image, vectorize


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def huge_png_header(width: int, height: int) -> bytes:
    """A 1x1 PNG whose IHDR claims `width` x `height` (with a valid CRC): a decompression bomb's header."""
    data = bytearray(png_bytes(Image.new("L", (1, 1))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


# --- intake: bad inputs get one clear error --------------------------------------------------------
@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((0, 0, 3), np.uint8), "empty (0x0 pixels)"),
        (b"", "empty (0 bytes)"),
        (b"this is not an image at all", "not an image"),
        (huge_png_header(20000, 20000), "Mpx (a decompression bomb?); the limit is 16.8 Mpx (max_pixels): downscale"),
        (huge_png_header(5000, 5000), "5000x5000 (25.0 Mpx); the limit is 16.8 Mpx (max_pixels): downscale it first"),
        (np.zeros((4, 4, 5), np.uint8), "has shape (4, 4, 5)"),
        (np.full((4, 4), 2.0), "float images must lie in [0, 1]"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((4, 4), np.complex64), "dtype complex64"),
        (12, "cannot read an image from a int"),
    ],
)
def test_bad_images_raise_one_clear_error(image, message):
    with pytest.raises(ValueError) as err:
        load_image(image)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_png_is_reported_as_corrupt():
    data = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    with pytest.raises(ValueError, match="corrupt"):
        load_image(data[: len(data) // 2])


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")


# --- intake: conversions ----------------------------------------------------------------------------
def test_cmyk_palette_la_and_16_bit_convert_to_the_right_rgb():
    red_cmyk = Image.new("CMYK", (4, 4), (0, 255, 255, 0))
    assert (load_image(red_cmyk) == [255, 0, 0]).all()

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)  # index 0 is transparent -> white
    rgb = load_image(png_bytes(palette))
    assert (rgb[0, 0] == 255).all() and (rgb[1, 1] == [0, 0, 255]).all()

    la = Image.fromarray(np.stack([np.zeros((4, 4), np.uint8), np.full((4, 4), 128, np.uint8)], -1), "LA")
    assert (load_image(la) == 127).all()  # black at half alpha on white

    sixteen = np.full((4, 4), 65535, np.uint16)
    sixteen[0, 0] = 0
    rgb = load_image(sixteen)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[1, 1].tolist() == [255, 255, 255]
    png16 = load_image(png_bytes(Image.fromarray(sixteen)))  # a 16-bit greyscale PNG
    assert (png16 == rgb).all()


def test_transparent_pixels_composite_on_white_and_give_an_empty_valid_svg():
    clear = np.zeros((16, 16, 4), np.uint8)  # black, fully transparent
    assert (load_image(clear) == 255).all()
    result = vectorize(clear, "vtracer")
    assert result.info["empty"] and not result.document.elements and is_valid_svg(result.svg)


def test_square_image_pads_with_white_centred():
    tall = np.zeros((20, 10, 3), np.uint8)
    sq = square_image(tall, 20)
    assert sq.shape == (20, 20, 3)
    assert (sq[:, :5] == 255).all() and (sq[:, 15:] == 255).all() and (sq[:, 5:15] == 0).all()


# --- tracers and colour -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["vtracer", "vtracer-spline", "vtracer-color", "vtracer-color-spline"])
def test_vtracer_output_is_valid_close_and_in_the_input_pixels(method, filled_icon):
    target = render(filled_icon, 128)
    result = vectorize(target, method)
    doc = result.document
    assert tuple(doc.view_box) == (0, 0, 128, 128) and doc.is_normalized and doc.elements
    points = np.concatenate([p.points for p in doc.paths])
    assert points.min() >= -0.1 and points.max() <= 128.1
    assert is_valid_svg(result.svg)
    assert mse(target, result.render(128)) < 0.01
    if "color" not in method:  # vtracer's own colour mode keeps its (near-black, near-white) clusters
        assert result.info["colors"] == ["#000000"]


COLOUR_FACE = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 128 128">
<circle cx="64" cy="64" r="56" fill="#fcc21b"/><ellipse cx="44" cy="54" rx="8" ry="12" fill="#2f2f2f"/>
<ellipse cx="84" cy="54" rx="8" ry="12" fill="#2f2f2f"/>
<path d="M34 78 C44 104 84 104 94 78" fill="none" stroke="#ed6c30" stroke-width="7" stroke-linecap="round"/>
<rect x="14" y="14" width="22" height="12" rx="4" fill="#40c0e7" transform="rotate(-20 25 20)"/></svg>"""


def test_output_keeps_the_inputs_size_and_aspect_ratio():
    wide = np.full((320, 512, 3), 255, np.uint8)
    wide[40:280, 30:200] = (200, 30, 30)  # a red block left, a thin blue bar right
    wide[150:170, 260:490] = (30, 60, 200)
    result = vectorize(wide, "centerline+refine")
    assert result.size == (512, 320) and tuple(result.document.view_box) == (0, 0, 512, 320)
    assert 'width="512" height="320" viewBox="0 0 512 320"' in result.svg
    assert result.render(256).shape[:2] == (160, 256)
    assert fidelity(wide, result)["mse"] < 0.002
    capped = vectorize(wide, "vtracer", size=256)  # traced at 256x160, drawn in the input's pixels
    assert capped.info["trace_size"] == [256, 160] and tuple(capped.document.view_box) == (0, 0, 512, 320)
    assert fidelity(wide, capped)["mse"] < 0.005


def test_light_colours_are_ink_not_backdrop():
    """An off-white shape inside a dark ring (a space suit) is a layer of its own, not the backdrop."""
    image = np.full((128, 128, 3), 255, np.uint8)
    image[20:108, 20:108] = 0
    image[36:92, 36:92] = (225, 232, 237)  # Twemoji's light grey
    layers = color_layers(image)
    assert np.abs(layers.colors.astype(int) - [225, 232, 237]).max(1).min() <= 3, layers.colors
    result = vectorize(image, "centerline+refine")
    assert fidelity(image, result)["mse"] < 0.001


def test_the_number_of_colours_follows_the_image():
    stripes = np.full((96, 96, 3), 255, np.uint8)
    shades = [(230, 40, 40), (40, 160, 40), (40, 40, 230), (240, 200, 30), (120, 40, 160), (30, 200, 200),
              (90, 90, 90), (250, 140, 0)]
    for k, colour in enumerate(shades):
        stripes[8:88, 4 + 11 * k : 13 + 11 * k] = colour
    assert len(color_layers(stripes).colors) == len(shades)  # more than the old cap of 6
    two = stripes.copy()
    two[8:88, 4:92] = (230, 40, 40)
    assert len(color_layers(two).colors) == 1


def test_colour_artwork_beats_vtracer_colour_polygons(fixture_art):
    """Sub-pixel contours + refinement: lower MSE than vtracer's colour polygons in fewer bytes."""
    ours, base = vectorize(fixture_art, "centerline+refine"), vectorize(fixture_art, "vtracer-color")
    a, b = fidelity(fixture_art, ours), fidelity(fixture_art, base)
    assert a["mse"] < b["mse"] and a["bytes"] < b["bytes"] * 1.1, (a, b)


def test_colour_layers_find_the_ink_colours():
    layers = color_layers(to_rgb(render(COLOUR_FACE, 128)))
    assert layers.background.tolist() == [255, 255, 255]
    found = layers.colors.astype(int)
    for want in ([0xFC, 0xC2, 0x1B], [0x2F, 0x2F, 0x2F], [0xED, 0x6C, 0x30], [0x40, 0xC0, 0xE7]):
        assert np.abs(found - want).max(axis=1).min() <= 8, (want, found)
    assert layers.masks[0].max() == 1.0 and layers.masks.shape[1:] == (128, 128)


def test_colour_image_gives_a_valid_multi_colour_svg():
    target = render(COLOUR_FACE, 128)
    result = vectorize(target, "vtracer")
    fills = {p.style.fill for p in result.document.paths}
    assert len(fills) >= 4 and is_valid_svg(result.svg)
    assert mse(target, result.render(128)) < 0.005


def test_coloured_background_becomes_a_backdrop_rect():
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = (30, 60, 200)
    image[20:44, 20:44] = 255
    result = vectorize(image, "vtracer")
    assert result.document.paths[0].style.fill == "#1e3cc8"
    assert mse(image, to_rgb(result.render(64))) < 0.01


@pytest.fixture
def fixture_art():
    return to_rgb(render(COLOUR_FACE, 256))


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: centerline\\+refine, centerline, neural\\+refine, neural, vtracer"):
        vectorize(np.zeros((8, 8, 3), np.uint8), "magic")


@pytest.mark.skipif(__import__("shutil").which("potrace") is not None, reason="potrace is installed here")
def test_potrace_without_the_binary_says_what_to_do():
    from gfx.svg.core.document import SVGError

    image = np.full((16, 16, 3), 255, np.uint8)
    image[4:12, 4:12] = 0
    with pytest.raises(SVGError, match="needs the potrace binary on PATH"):
        vectorize(image, "potrace")


def test_public_vectorize_stays_a_function_after_the_module_is_imported(filled_icon):
    import gfx.svg
    import gfx.svg.vectorization.vectorizer  # noqa: F401  (a module named like the function would shadow it here)

    result = gfx.svg.vectorize(render(filled_icon, 64), method="vtracer", size=64)
    assert callable(gfx.svg.vectorize) and result.document.elements
