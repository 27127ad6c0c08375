"""Furniture categories of the part dataset: chairs, tables, shelves, beds.

Each builder adds parts to a `Builder` and returns the caption.
"""

from __future__ import annotations

import math

import numpy as np

from gfx.data.parts3d.builder import MAX_PARTS, Builder, caption_for, number_word, with_article
from gfx.data.parts3d.primitives import axis_rotation, box, disk, ellipsoid, rod, sphere


def _chair(b: Builder) -> str:
    kind = b.pick(["wood", "wood", "metal", "plastic"])
    word, rgb = b.material(kind)
    w, d, t, h = b.u(0.4, 0.6), b.u(0.4, 0.55), b.u(0.03, 0.07), b.u(0.4, 0.5)
    b.add("seat", box([0, h - t / 2, 0], [w, t, d]), b.shade(rgb))
    features = []
    swivel = kind != "wood" and b.chance(0.35)
    b.params.update(material=word, swivel=swivel, seat=[w, d, t, h])
    leg_rgb = b.shade(rgb) if kind != "plastic" else b.shade(b.material("metal")[1])
    if swivel:
        post_r = b.u(0.025, 0.04)
        b.add("post", rod([0, 0.07, 0], [0, h - t, 0], post_r), leg_rgb)
        reach, casters, star_r = b.u(0.25, 0.32), b.chance(0.7), b.u(0.015, 0.02)
        for k in range(5):
            angle = 2 * math.pi * k / 5 + math.pi / 2
            b.add(
                "leg",
                rod([0, 0.07, 0], [reach * math.cos(angle), 0.05, reach * math.sin(angle)], star_r),
                leg_rgb,
            )
        if casters:
            cr = b.u(0.02, 0.03)
            for k in range(5):
                angle = 2 * math.pi * k / 5 + math.pi / 2
                b.add(
                    "caster",
                    sphere([reach * math.cos(angle), cr, reach * math.sin(angle)], cr),
                    (40, 40, 40),
                )
        features.append(f"a swivel base on five {'casters' if casters else 'spokes'}")
    else:
        round_legs, splay = b.chance(0.5), b.u(0.03, 0.07) if b.chance(0.3) else 0.0
        lt = b.u(0.018, 0.035)
        inset = lt + 0.01
        corners = [(sx * (w / 2 - inset), sz * (d / 2 - inset)) for sx in (-1, 1) for sz in (-1, 1)]
        for x, z in corners:
            top = np.array([x, h - t, z])
            bottom = np.array([x + np.sign(x) * splay, 0.0, z + np.sign(z) * splay])
            if round_legs or splay:
                b.add("leg", rod(bottom, top, lt), leg_rgb)
            else:
                b.add("leg", box([x, (h - t) / 2, z], [2 * lt, h - t, 2 * lt]), leg_rgb)
        features.append(f"four {'splayed ' if splay else ''}{'round' if round_legs else 'square'} legs")
        b.params.update(round_legs=round_legs, splay=splay)
        if b.chance(0.4):
            y = b.u(0.12, 0.2)
            for z in (-1, 1):
                x0, z0 = -(w / 2 - inset), z * (d / 2 - inset)
                b.add("stretcher", rod([x0, y, z0], [-x0, y, z0], lt * 0.5), leg_rgb)
            features.append("stretchers between the legs")
    # backrest
    bh, tilt = b.u(0.3, 0.55), b.u(0, 14)
    style = b.pick(["solid", "slatted", "slatted"]) if b.fits(4) else "solid"
    pivot = np.array([0, h, -d / 2 + 0.02])
    rotation = axis_rotation("x", -tilt)
    back_rgb = b.shade(rgb)
    if style == "solid":
        bt = b.u(0.02, 0.04)
        b.add("backrest", box(pivot + rotation @ [0, bh / 2, 0], [w, bh, bt], rotation), back_rgb)
    else:
        pw = b.u(0.025, 0.04)
        for sx in (-1, 1):
            b.add(
                "post",
                box(pivot + rotation @ [sx * (w / 2 - pw / 2), bh / 2, 0], [pw, bh, pw], rotation),
                back_rgb,
            )
        n = min(b.n(2, 5), MAX_PARTS - len(b.parts))
        vertical = b.chance(0.4)
        st = b.u(0.01, 0.02)
        for k in range(n):
            if vertical:
                x = -w / 2 + pw + (k + 1) * (w - 2 * pw) / (n + 1)
                b.add(
                    "slat",
                    box(pivot + rotation @ [x, bh * 0.5, 0], [b.u(0.02, 0.04), bh * 0.8, st], rotation),
                    back_rgb,
                )
            else:
                y = bh * (0.35 + 0.6 * (k + 1) / (n + 1))
                b.add(
                    "slat",
                    box(pivot + rotation @ [0, y, 0], [w - 2 * pw, b.u(0.03, 0.06), st], rotation),
                    back_rgb,
                )
        style = f"slatted ({n} {'vertical' if vertical else 'horizontal'} slats)"
    height_word = "tall" if bh > 0.45 else "low" if bh < 0.36 else ""
    features.append(
        f"{with_article(' '.join(filter(None, [height_word, 'tilted' if tilt > 8 else '', style.split(' (')[0]])))} backrest"
    )
    b.params.update(backrest=style, back_height=bh, tilt=tilt)
    if b.fits(2) and b.chance(0.3):
        ay = h + b.u(0.18, 0.25)
        for sx in (-1, 1):
            b.add("armrest", box([sx * (w / 2 + 0.02), ay, 0.02], [0.05, 0.03, d * 0.8]), b.shade(rgb))
        features.append("armrests")
    if b.fits(1) and b.chance(0.3):
        cw, cd = b.material("fabric")
        b.add("cushion", box([0, h + 0.025, 0.01], [w * 0.9, 0.05, d * 0.85]), cd)
        features.append(f"{with_article(cw)} cushion")
    if b.fits(2) and b.chance(0.4):
        count = min(b.n(2, 4), MAX_PARTS - len(b.parts))
        for k in range(count):
            x = (k - (count - 1) / 2) * (w * 0.6) / max(count - 1, 1)
            b.add(
                "screw",
                rod([x, h - t - 0.018, d / 2 - 0.05], [x, h - t + 0.004, d / 2 - 0.05], b.u(0.005, 0.007), 8),
                (120, 120, 125),
                hidden=True,
            )
        b.params["screws"] = count
    subject = "office chair" if swivel else f"{word} chair"
    return caption_for(b, subject, features)


def _table(b: Builder) -> str:
    kind = b.pick(["wood", "wood", "metal", "plastic"])
    word, rgb = b.material(kind)
    shape = b.pick(["rectangular", "rectangular", "round", "square"])
    h, t = b.u(0.6, 0.78), b.u(0.025, 0.06)
    if shape == "round":
        r = b.u(0.35, 0.6)
        w = d = 2 * r
        b.add("top", disk([0, h - t / 2, 0], r, t, sections=40), b.shade(rgb))
    else:
        w = b.u(0.8, 1.6) if shape == "rectangular" else b.u(0.6, 1.0)
        d = b.u(0.5, 0.9) if shape == "rectangular" else w
        b.add("top", box([0, h - t / 2, 0], [w, t, d]), b.shade(rgb))
    features = []
    support = (
        b.pick(["legs", "legs", "pedestal"])
        if shape != "rectangular"
        else b.pick(["legs", "legs", "trestle"])
    )
    leg_rgb = b.shade(rgb)
    lt = b.u(0.02, 0.04)
    apron = False
    if support == "legs":
        if shape == "round":
            corners = [
                (0.6 * r * math.cos(a), 0.6 * r * math.sin(a))
                for a in np.linspace(0, 2 * math.pi, 4, endpoint=False) + math.pi / 4
            ]
        else:
            corners = [
                (sx * (w / 2 - lt - 0.03), sz * (d / 2 - lt - 0.03)) for sx in (-1, 1) for sz in (-1, 1)
            ]
        round_legs = b.chance(0.5)
        for x, z in corners:
            if round_legs:
                b.add("leg", rod([x, 0, z], [x, h - t, z], lt), leg_rgb)
            else:
                b.add("leg", box([x, (h - t) / 2, z], [2 * lt, h - t, 2 * lt]), leg_rgb)
        features.append(f"four {'round' if round_legs else 'square'} legs")
        if shape != "round" and b.chance(0.5):
            apron, ah = True, b.u(0.06, 0.1)
            x0, z0 = w / 2 - lt - 0.03, d / 2 - lt - 0.03
            for sz in (-1, 1):
                b.add("apron", box([0, h - t - ah / 2, sz * z0], [2 * x0, ah, 0.018]), leg_rgb)
            for sx in (-1, 1):
                b.add("apron", box([sx * x0, h - t - ah / 2, 0], [0.018, ah, 2 * z0]), leg_rgb)
            features.append("an apron under the top")
        if shape != "round" and b.chance(0.25):
            sy = b.u(0.12, 0.25)
            b.add("shelf", box([0, sy, 0], [w - 2 * lt - 0.06, 0.02, d - 2 * lt - 0.06]), b.shade(rgb))
            features.append("a lower shelf")
    elif support == "pedestal":
        pr = b.u(0.04, 0.08)
        b.add("pedestal", rod([0, 0.03, 0], [0, h - t, 0], pr, 20), leg_rgb)
        if b.chance(0.5):
            b.add("foot", disk([0, 0.015, 0], b.u(0.2, 0.3), 0.03, sections=32), leg_rgb)
            features.append("a pedestal on a round foot")
        else:
            n = b.n(3, 4)
            for k in range(n):
                a = 2 * math.pi * k / n
                b.add(
                    "foot",
                    box(
                        [0.13 * math.cos(a), 0.02, 0.13 * math.sin(a)],
                        [0.26, 0.04, 0.05],
                        axis_rotation("y", -math.degrees(a)),
                    ),
                    leg_rgb,
                )
            features.append(f"a pedestal on {number_word(n)} feet")
    else:
        for sx in (-1, 1):
            b.add("leg", box([sx * (w / 2 - 0.1), (h - t) / 2, 0], [0.04, h - t, d * 0.8]), leg_rgb)
        b.add("stretcher", rod([-(w / 2 - 0.1), 0.15, 0], [w / 2 - 0.1, 0.15, 0], 0.02), leg_rgb)
        features.append("trestle legs joined by a stretcher")
    if shape != "round" and b.fits(2) and b.chance(0.35):
        dw, dh = min(0.45, w * 0.4), 0.08
        front = d / 2 - lt - 0.03 - (0.01 if apron else -0.02)
        b.add(
            "drawer",
            box([0, h - t - dh / 2 - 0.005, front - 0.2], [dw, dh, 0.4]),
            b.shade(rgb),
            hidden=apron,
        )
        kr = b.u(0.01, 0.018)
        b.add(
            "knob",
            sphere([0, h - t - dh / 2 - 0.005, front + kr * 0.6], kr),
            b.shade(b.material("metal")[1]),
        )
        features.append("a drawer with a small knob")
    b.params.update(material=word, shape=shape, support=support, top=[w, d, t, h])
    return caption_for(b, f"{shape} {word} table", features)


def _shelf(b: Builder) -> str:
    word, rgb = b.material(b.pick(["wood", "wood", "metal", "plastic"]))
    w, h, d, t = b.u(0.6, 1.2), b.u(0.8, 2.0), b.u(0.25, 0.4), b.u(0.015, 0.03)
    c = b.shade(rgb, 0.05)
    for sx in (-1, 1):
        b.add("side", box([sx * (w / 2 - t / 2), h / 2, 0], [t, h, d]), c)
    plinth = b.chance(0.3)
    bottom = 0.06 if plinth else 0.0
    for y in (bottom + t / 2, h - t / 2):
        b.add("board", box([0, y, 0], [w - 2 * t, t, d]), c)
    n = b.n(1, 4)
    levels = [bottom + t / 2 + (k + 1) * (h - t - bottom - t / 2) / (n + 1) for k in range(n)]
    for y in levels:
        b.add("board", box([0, y, 0.005], [w - 2 * t, t, d - 0.01]), c)
    features = [f"{number_word(n + 2)} shelves"]
    if plinth:
        b.add("plinth", box([0, bottom / 2, d / 2 - 0.03], [w - 2 * t, bottom, 0.02]), c)
    back = b.chance(0.7)
    if back:
        b.add("back_panel", box([0, h / 2, -d / 2 + 0.004], [w - 2 * t, h - 0.002, 0.008]), b.shade(rgb))
        features.append("a back panel")
    doors = b.fits(4) and b.chance(0.25)
    if doors:
        door_top = levels[0] if n else h / 2
        dh = door_top - bottom - t
        for sx in (-1, 1):
            b.add(
                "door",
                box(
                    [sx * (w / 4 - t / 2), bottom + t + dh / 2, d / 2 + 0.008], [w / 2 - t - 0.004, dh, 0.014]
                ),
                b.shade(rgb),
            )
            b.add(
                "handle",
                sphere([sx * 0.04, bottom + t + dh * 0.6, d / 2 + 0.025], 0.012),
                b.shade(b.material("metal")[1]),
            )
        features.append("two doors with knobs")
    if b.fits(2) and b.chance(0.5):
        level = levels[-1] if levels else bottom + t / 2
        count = min(b.n(2, 5), MAX_PARTS - len(b.parts))
        x = -w / 2 + t + 0.01
        for _ in range(count):
            bw, bh = b.u(0.02, 0.05), b.u(0.15, 0.25)
            bh = min(bh, (h - t - level) * 0.8)
            b.add(
                "book",
                box([x + bw / 2, level + t / 2 + bh / 2, 0], [bw, bh, d * b.u(0.6, 0.85)]),
                b.material("plastic")[1],
            )
            x += bw + 0.002
        features.append(f"{number_word(count)} books")
    b.params.update(material=word, width=w, height=h, shelves=n, back=back, doors=doors)
    tall = "tall " if h > 1.5 else "low " if h < 1.0 else ""
    return caption_for(b, f"{tall}{word} bookshelf", features)


def _bed(b: Builder) -> str:
    word, rgb = b.material(b.pick(["wood", "wood", "metal"]))
    w, length = b.u(0.9, 1.8), b.u(1.9, 2.1)
    leg_h, fh = b.u(0.08, 0.25), b.u(0.15, 0.3)
    b.add("frame", box([0, leg_h + fh / 2, 0], [w, fh, length]), b.shade(rgb))
    mw, mc = b.material("fabric")
    mh = b.u(0.15, 0.25)
    top = leg_h + fh + mh
    b.add("mattress", box([0, leg_h + fh + mh / 2, 0], [w - 0.04, mh, length - 0.04]), (235, 235, 230))
    hb = b.u(0.4, 0.8)
    b.add(
        "headboard",
        box([0, (leg_h + fh + hb) / 2, -length / 2 - 0.03], [w + 0.04, leg_h + fh + hb, 0.06]),
        b.shade(rgb),
    )
    features = [f"{with_article('tall' if hb > 0.6 else 'low')} headboard"]
    if b.chance(0.5):
        fb = b.u(0.1, 0.3)
        b.add(
            "footboard",
            box([0, (leg_h + fh + fb) / 2, length / 2 + 0.03], [w + 0.04, leg_h + fh + fb, 0.05]),
            b.shade(rgb),
        )
        features.append("a footboard")
    lt = b.u(0.025, 0.045)
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.add(
                "leg",
                box(
                    [sx * (w / 2 - lt - 0.02), leg_h / 2, sz * (length / 2 - lt - 0.02)],
                    [2 * lt, leg_h, 2 * lt],
                ),
                b.shade(rgb),
                hidden=leg_h < 0.12,
            )
    pillows = 1 if w < 1.2 else 2
    for k in range(pillows):
        x = 0 if pillows == 1 else (k - 0.5) * w / 2
        b.add(
            "pillow",
            ellipsoid([x, top + 0.05, -length / 2 + 0.25], [min(0.3, w / 2 - 0.05), 0.06, 0.15]),
            (245, 245, 245),
        )
    features.append(f"{number_word(pillows)} pillow{'s' if pillows > 1 else ''}")
    if b.chance(0.5):
        b.add("blanket", box([0, top + 0.01, length * 0.12], [w + 0.02, 0.02, length * 0.72]), mc)
        features.append(f"{with_article(mw)} blanket")
    b.params.update(material=word, width=w, legs=leg_h, pillows=pillows)
    size = "double" if w > 1.3 else "single"
    return caption_for(b, f"{size} {word} bed", features)


FURNITURE = {"chair": _chair, "table": _table, "shelf": _shelf, "bed": _bed}
