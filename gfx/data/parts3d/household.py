"""Household-object categories of the part dataset: desk lamps, mugs.

Each builder adds parts to a `Builder` and returns the caption.
"""

from __future__ import annotations

import math

import numpy as np

from gfx.data.parts3d.builder import Builder, caption_for, with_article
from gfx.data.parts3d.primitives import box, capsule, disk, lathe, rod, sphere, tube


def _lamp(b: Builder) -> str:
    word, rgb = b.material(b.pick(["metal", "plastic"]))
    floor = b.chance(0.35)
    base_r = b.u(0.08, 0.14) * (1.4 if floor else 1)
    base_h = b.u(0.02, 0.04)
    square = b.chance(0.3)
    b.add(
        "base",
        box([0, base_h / 2, 0], [2 * base_r, base_h, 2 * base_r])
        if square
        else disk([0, base_h / 2, 0], base_r, base_h),
        b.shade(rgb),
    )
    features = [f"{with_article('square' if square else 'round')} base"]
    stem_r = b.u(0.008, 0.015)
    jointed = not floor and b.chance(0.45)
    if jointed:
        a1, a2 = b.u(15, 40), b.u(40, 80)
        l1, l2 = b.u(0.25, 0.4), b.u(0.2, 0.35)
        p0 = np.array([0, base_h, 0])
        p1 = p0 + l1 * np.array([0, math.cos(math.radians(a1)), -math.sin(math.radians(a1))])
        p2 = p1 + l2 * np.array([0, math.cos(math.radians(a2 + 60)), math.sin(math.radians(a2 + 60))])
        b.add("arm", rod(p0, p1, stem_r), b.shade(rgb))
        b.add("joint", sphere(p1, stem_r * 2.2), b.shade(rgb))
        b.add("arm", rod(p1, p2, stem_r), b.shade(rgb))
        top = p2
        features.append("two jointed arms")
    else:
        sh = b.u(1.2, 1.6) if floor else b.u(0.3, 0.55)
        top = np.array([0, base_h + sh, 0])
        b.add("stem", rod([0, base_h, 0], top, stem_r * (1.5 if floor else 1)), b.shade(rgb))
        features.append(f"{with_article('tall' if floor else 'straight')} stem")
    shade_word, shade_rgb = b.material(b.pick(["fabric", "plastic"]))
    r_bottom, r_top, sh_h = b.u(0.1, 0.2) * (1.5 if floor else 1), b.u(0.04, 0.09), b.u(0.1, 0.2)
    wall = b.u(0.01, 0.016)
    style = b.pick(["cone", "drum", "dome"])
    if style == "drum":
        r_top = r_bottom * b.u(0.85, 1.0)
    base_y = top[1] - sh_h * 0.55
    center = [top[0], base_y, top[2]]
    if style == "dome":
        angles = np.linspace(0, math.pi / 2, 10)
        outer = np.stack([r_bottom * np.cos(angles), sh_h * np.sin(angles)], 1)
        inner = np.stack([(r_bottom - wall) * np.cos(angles[::-1]), (sh_h - wall) * np.sin(angles[::-1])], 1)
        profile = np.vstack([outer[:-1], [[0, sh_h]], [[0, sh_h - wall]], inner[1:]])
    else:
        profile = [[r_bottom, 0], [r_top, sh_h], [r_top - wall, sh_h], [r_bottom - wall, 0]]
    b.add("shade", lathe(profile, center), shade_rgb)
    b.add(
        "bulb",
        sphere([top[0], base_y + sh_h * 0.35, top[2]], min(r_top, r_bottom) * 0.5),
        (250, 240, 190),
        hidden=True,
    )
    features.append(f"{with_article(shade_word)} {style} shade")
    if b.fits(1) and b.chance(0.6):
        s = b.u(0.018, 0.028)
        b.add("switch", box([base_r * 0.6, base_h + s / 4, 0], [s, s / 2, s]), (30, 30, 30))
        features.append("a small switch on the base")
    if b.fits(1) and b.chance(0.3) and style != "dome":
        b.add("finial", sphere([top[0], base_y + sh_h + 0.015, top[2]], 0.012), b.shade(rgb))
    b.params.update(material=word, floor=floor, jointed=jointed, shade=style)
    return caption_for(b, f"{word} {'floor' if floor else 'desk'} lamp", features)


def _mug(b: Builder) -> str:
    word, rgb = b.material("ceramic")
    r, h = b.u(0.04, 0.06), b.u(0.08, 0.12)
    r_top = r * b.u(0.95, 1.2)
    wall, bottom = b.u(0.006, 0.01), b.u(0.008, 0.014)
    profile = [[0, 0], [r, 0], [r_top, h], [r_top - wall, h], [r - wall, bottom], [0, bottom]]
    b.add("body", lathe(profile, sections=32), b.shade(rgb))
    features = []
    style = b.pick(["round", "round", "square"])
    hr = b.u(0.005, 0.009)
    y0, y1 = h * 0.2, h * 0.8
    reach = b.u(0.025, 0.04)
    x_in = r + (r_top - r) * 0.5 - wall
    if style == "round":
        angles = np.linspace(-math.pi / 2, math.pi / 2, 14)
        path = np.stack(
            [
                x_in + reach * np.cos(angles),
                (y0 + y1) / 2 + (y1 - y0) / 2 * np.sin(angles),
                np.zeros_like(angles),
            ],
            1,
        )
    else:
        path = np.array([[x_in, y0, 0], [x_in + reach, y0, 0], [x_in + reach, y1, 0], [x_in, y1, 0]])
        path = np.vstack(
            [np.linspace(path[k], path[k + 1], 5, endpoint=False) for k in range(3)] + [path[-1:]]
        )
    b.add("handle", tube(path, hr), b.shade(rgb))
    features.append(f"{with_article(style)} handle")
    if b.chance(0.4):
        sr = r * b.u(1.6, 2.0)
        b.add("saucer", lathe([[0, -0.008], [sr, -0.008], [sr, 0.0], [0, 0.0]], sections=36), b.shade(rgb))
        features.append("a saucer")
    if b.chance(0.2):
        b.add("lid", disk([0, h + 0.003, 0], r_top + 0.003, 0.006, sections=32), b.shade(rgb))
        b.add("knob", sphere([0, h + 0.01, 0], 0.008), b.shade(rgb))
        features.append("a lid")
    elif b.chance(0.3):
        b.add(
            "spoon",
            capsule([-r * 0.3, bottom + 0.01, 0], [-r_top * 0.6, h * 1.35, 0.0], 0.004),
            (200, 205, 210),
        )
        features.append("a spoon inside")
    b.params.update(material=word, radius=r, height=h, handle=style)
    return caption_for(b, f"{word} mug", features)


HOUSEHOLD = {"lamp": _lamp, "mug": _mug}
