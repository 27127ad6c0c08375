import numpy as np
import pytest

from gfx.svg.core.document import SVGError
from gfx.svg.core.metrics import compare, is_valid_svg, mse, ssim
from gfx.svg.core.render import contact_sheet, render, render_png, to_rgb


def test_render_shape_background_and_ink(filled_icon):
    image = render(filled_icon, size=64)
    assert image.shape == (64, 64, 4) and image.dtype == np.uint8
    assert (image[..., 3] == 255).all()  # white background is opaque
    assert tuple(image[0, 0, :3]) == (255, 255, 255)  # corner outside the ring
    assert image[32, 10, :3].max() < 40  # on the ring: black ink
    assert tuple(image[32, 32, :3]) == (255, 255, 255)  # the even-odd hole


def test_render_transparent_background(filled_icon):
    image = render(filled_icon, size=32, background=None)
    assert image[0, 0, 3] == 0 and image[16, 4, 3] > 200


def test_render_refuses_hostile_and_bad_sizes(filled_icon):
    bomb = '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    with pytest.raises(SVGError):
        render(bomb)
    with pytest.raises(SVGError, match="size"):
        render(filled_icon, size=0)


def test_metrics_identity_and_difference(filled_icon, stroke_icon):
    a, b = render(filled_icon), render(stroke_icon)
    assert mse(a, a) == 0.0 and ssim(a, a) == pytest.approx(1.0)
    assert 0.0 < mse(a, b) < 1.0 and ssim(a, b) < 0.9
    white = np.full_like(a, 255)
    black = np.zeros_like(a[..., :3])
    assert mse(white, black) == pytest.approx(1.0)  # RGBA composited on white; max error is 1
    scores = compare(filled_icon, stroke_icon)
    assert scores["mse"] == pytest.approx(mse(a, b))


def test_metrics_refuse_mismatched_sizes(filled_icon):
    with pytest.raises(ValueError, match="same size"):
        mse(render(filled_icon, 32), render(filled_icon, 64))


def test_validity(filled_icon):
    assert is_valid_svg(filled_icon)
    assert not is_valid_svg("<html><body/></html>")
    assert not is_valid_svg(b"\x89PNG\r\n\x1a\n junk")


def test_to_rgb_composites_alpha():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    rgb = to_rgb(rgba)
    assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[1, 1]) == (255, 255, 255)


def test_contact_sheet_tiles_images(filled_icon):
    cell = render(filled_icon, 32)
    sheet = contact_sheet([[cell, cell, cell], [cell]], row_labels=["a", "b"], column_labels=["x", "y", "z"])
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[0] > 2 * 32 and sheet.shape[1] > 3 * 32


@pytest.mark.parametrize("size, background", [(24, "white"), (97, "white"), (128, "#336699"), (64, None)])
def test_render_png_is_pixel_identical_to_cairosvg(filled_icon, stroke_icon, size, background):
    import io

    import cairosvg
    from PIL import Image

    for svg in (filled_icon, stroke_icon):
        ours = Image.open(io.BytesIO(render_png(svg, size, background)))
        reference = cairosvg.svg2png(bytestring=svg.encode(), output_width=size, output_height=size,
                                     background_color=background)
        expected = Image.open(io.BytesIO(reference)).convert("RGBA")
        assert ours.mode == ("RGB" if background else "RGBA")  # opaque images are written as 8-bit RGB
        assert np.array_equal(np.asarray(ours.convert("RGBA")), np.asarray(expected))
