"""Toy-vehicle categories of the part dataset: toy cars, toy planes.

Each builder adds parts to a `Builder` and returns the caption.
"""

from __future__ import annotations

import numpy as np

from gfx.data.parts3d.builder import Builder, caption_for, number_word
from gfx.data.parts3d.primitives import axis_rotation, box, capsule, disk, ellipsoid, rod, sphere


def _toy_car(b: Builder) -> str:
    word, rgb = b.material("plastic")
    length, w, bh = b.u(0.8, 1.2), b.u(0.4, 0.55), b.u(0.15, 0.25)
    wr, ww = b.u(0.08, 0.14), b.u(0.05, 0.08)
    body_y = wr + bh / 2 - 0.02
    b.add("body", box([0, body_y, 0], [w, bh, length]), b.shade(rgb))
    cl, ch = length * b.u(0.35, 0.55), b.u(0.1, 0.18)
    cz = b.u(-0.15, 0.05) * length
    b.add("cabin", box([0, body_y + bh / 2 + ch / 2, cz], [w * 0.85, ch, cl]), b.shade(rgb, 0.25))
    wheel_z = length / 2 - wr - 0.03
    for z in (-wheel_z, wheel_z):
        for sx in (-1, 1):
            b.add("wheel", disk([sx * (w / 2 + ww / 2), wr, z], wr, ww, axis="x", sections=20), (30, 30, 30))
    for z in (-wheel_z, wheel_z):
        b.add(
            "axle",
            rod([-(w / 2 + ww * 0.6), wr, z], [w / 2 + ww * 0.6, wr, z], b.u(0.01, 0.018), 8),
            (120, 120, 125),
            hidden=True,
        )
    features = ["four black wheels"]
    hl = b.u(0.015, 0.03)
    for sx in (-1, 1):
        b.add("headlight", sphere([sx * w * 0.3, body_y + bh * 0.15, length / 2], hl), (250, 240, 170))
    features.append("round headlights")
    if b.chance(0.3):
        b.add(
            "spoiler",
            box([0, body_y + bh / 2 + 0.04, -length / 2 + 0.05], [w * 0.9, 0.015, 0.08]),
            b.shade(rgb),
        )
        features.append("a rear spoiler")
    if b.chance(0.3):
        b.add(
            "antenna",
            rod(
                [w * 0.3, body_y + bh / 2, -length * 0.3],
                [w * 0.3, body_y + bh / 2 + b.u(0.12, 0.2), -length * 0.3],
                0.004,
                6,
            ),
            (40, 40, 40),
        )
        features.append("a thin antenna")
    if b.fits(4) and b.chance(0.3):
        for z in (-wheel_z, wheel_z):
            for sx in (-1, 1):
                b.add(
                    "hubcap",
                    disk([sx * (w / 2 + ww + 0.004), wr, z], wr * 0.45, 0.008, axis="x"),
                    (210, 210, 215),
                )
        features.append("silver hubcaps")
    b.params.update(material=word, length=length, wheel_radius=wr)
    return caption_for(b, f"{word} toy car", features)


def _plane(b: Builder) -> str:
    word, rgb = b.material("plastic")
    length, fr = b.u(1.0, 1.6), b.u(0.07, 0.12)
    b.add("fuselage", capsule([0, 0, -length / 2 + fr], [0, 0, length / 2 - fr], fr), b.shade(rgb))
    span, chord, wt = b.u(0.9, 1.6), b.u(0.15, 0.3), b.u(0.02, 0.035)
    sweep = b.u(0, 25) if b.chance(0.5) else 0.0
    wing_rgb = b.shade(rgb, 0.2)
    wz = b.u(-0.05, 0.1) * length
    for sx in (-1, 1):
        rotation = axis_rotation("y", sx * sweep)
        root = np.array([0, -fr * 0.3, wz])
        b.add("wing", box(root + rotation @ [sx * span / 4, 0, 0], [span / 2, wt, chord], rotation), wing_rgb)
    features = [f"{'swept' if sweep > 10 else 'straight'} wings"]
    fin_h = b.u(0.15, 0.3)
    b.add(
        "tail_fin",
        box(
            [0, fr + fin_h / 2 - 0.02, -length / 2 + chord * 0.4],
            [wt * 0.8, fin_h, chord * 0.7],
            axis_rotation("x", -15),
        ),
        wing_rgb,
    )
    for sx in (-1, 1):
        b.add(
            "stabilizer",
            box([sx * span * 0.14, 0, -length / 2 + chord * 0.35], [span * 0.25, wt * 0.8, chord * 0.55]),
            wing_rgb,
        )
    features.append("a tail fin")
    engines = b.pick([0, 0, 2, 4])
    for k in range(engines):
        x = (span * (0.18 if k < 2 else 0.34)) * (1 if k % 2 else -1)
        b.add(
            "engine",
            rod(
                [x, -fr * 0.3 - 0.06, wz + chord * 0.6],
                [x, -fr * 0.3 - 0.06, wz - chord * 0.3],
                b.u(0.035, 0.05),
                16,
            ),
            (170, 170, 175),
        )
    if engines:
        features.append(f"{number_word(engines)} jet engines")
    else:
        nose = length / 2
        b.add("hub", sphere([0, 0, nose + 0.01], fr * 0.35), (60, 60, 60))
        blade = b.u(0.25, 0.4)
        b.add(
            "propeller",
            box([0, 0, nose + 0.02], [blade, 0.03, 0.008], axis_rotation("z", b.u(0, 90))),
            (60, 60, 60),
        )
        features.append("a propeller")
    if b.chance(0.7):
        b.add(
            "canopy",
            ellipsoid([0, fr * 0.6, length * 0.22], [fr * 0.6, fr * 0.55, fr * 1.6]),
            (120, 180, 220),
        )
        features.append("a glass canopy")
    if b.fits(3) and b.chance(0.3):
        for x, z in [(-0.12, wz), (0.12, wz), (0.0, length * 0.35)]:
            b.add("wheel", disk([x * span, -fr - 0.03, z], 0.03, 0.02, axis="x", sections=12), (30, 30, 30))
        features.append("landing wheels")
    b.params.update(material=word, length=length, span=span, sweep=sweep, engines=engines)
    return caption_for(b, f"{word} toy plane", features)


VEHICLES = {"toy_car": _toy_car, "plane": _plane}
