"""A procedural part-annotated 3D dataset: seeded objects of 8 categories built from primitives.

Each object (`PartObject`) is a `PartMesh` of 2-16 named, labelled, coloured parts (boxes, cylinders,
spheres, capsules, lathed profiles, swept tubes), normalized to [-1, 1]^3 (+y up, +z front), with its
per-part boxes, a caption built from the sampled parameters, and the parameters themselves. The
categories exercise what part-based generators must handle (research/3d_anchors.md sec. 5): part
sizes up to ~50x apart (a screw under a seat, a knob on a table), thin and repeated parts (legs,
slats, shelf boards), contacts (legs touch the seat), hidden parts (a bulb inside a shade, axles
inside a car body) and tilted, non-axis-aligned parts.

Everything is a pure function of (category, index): `generate("chair", 7)` is the same object on
every machine with the same trimesh tessellation (`GENERATOR_VERSION` names the recipe). Parts are
ordered as FullPart orders boxes: largest box half-surface-area (xy + yz + zx) first. Splits come
from the object id (`split_of`), so growing the dataset never moves an object between splits.
Nothing has to be stored: models generate objects on the fly or read the arrays `build_parts` writes.
`gfx.mesh` is imported inside functions: `gfx.data` sits below the modality packages (DESIGN.md).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gfx.files import write_bytes, write_text

if TYPE_CHECKING:
    from gfx.mesh.structures import PartMesh

log = logging.getLogger(__name__)

GENERATOR_VERSION = "parts3d-v1"
MAX_PARTS = 16
SPLITS = ("train", "val", "test")
SPLIT_RULE = (
    "bucket = int(sha256(id).hexdigest()[:8], 16) % 100; train if bucket < 90, val if bucket < 95, else test"
)
LABELS = (
    "seat", "backrest", "leg", "stretcher", "armrest", "post", "slat", "caster", "cushion", "screw",
    "top", "apron", "drawer", "knob", "foot", "pedestal", "shelf",
    "base", "stem", "arm", "joint", "shade", "bulb", "switch", "finial",
    "body", "handle", "saucer", "lid", "spoon",
    "side", "board", "back_panel", "door", "book", "plinth",
    "frame", "mattress", "headboard", "footboard", "pillow", "blanket",
    "cabin", "wheel", "axle", "headlight", "spoiler", "antenna", "hubcap",
    "fuselage", "wing", "tail_fin", "stabilizer", "engine", "propeller", "hub", "canopy",
)  # fmt: skip
"""Every part label, in a fixed order (the label vocabulary of part models)."""

ProgressFn = Callable[[str, int, int], None]
"""progress(category, done, total): called after each object `build_parts` writes."""


# ----------------------------------------------------------------------------------------------
# Primitives (metres-like units, +y up). Each returns a closed, outward-oriented trimesh.


def _closed(mesh):
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def _box(center, size, rotation=None):
    import trimesh

    transform = np.eye(4)
    if rotation is not None:
        transform[:3, :3] = rotation
    transform[:3, 3] = center
    return trimesh.creation.box(extents=np.asarray(size, dtype=np.float64), transform=transform)


def _rod(p0, p1, radius, sections=12):
    """A cylinder between two points."""
    import trimesh

    return _closed(
        trimesh.creation.cylinder(radius, segment=np.array([p0, p1], dtype=np.float64), sections=sections)
    )


def _disk(center, radius, height, axis="y", sections=24):
    """A cylinder of `height` along `axis`, centred on `center`."""
    center = np.asarray(center, dtype=np.float64)
    offset = np.eye(3)["xyz".index(axis)] * height / 2
    return _rod(center - offset, center + offset, radius, sections)


def _ellipsoid(center, radii):
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    mesh.vertices = mesh.vertices * np.asarray(radii, dtype=np.float64) + np.asarray(center, dtype=np.float64)
    return mesh


def _sphere(center, radius):
    return _ellipsoid(center, [radius] * 3)


def _capsule(p0, p1, radius):
    import trimesh

    p0, p1 = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[12, 12])
    transform = trimesh.geometry.align_vectors([0, 0, 1], axis / length)
    transform[:3, 3] = (p0 + p1) / 2
    mesh.apply_transform(transform)
    return mesh


def _lathe(profile, center=(0.0, 0.0, 0.0), sections=28):
    """Revolve a closed (radius, height) profile around the vertical axis through `center`."""
    import trimesh

    profile = np.asarray(profile, dtype=np.float64)
    if not np.allclose(profile[0], profile[-1]) and not (profile[0, 0] == 0 and profile[-1, 0] == 0):
        profile = np.vstack([profile, profile[:1]])
    mesh = trimesh.creation.revolve(profile, sections=sections)
    mesh.vertices = mesh.vertices[:, [0, 2, 1]] * [1, 1, -1] + np.asarray(center)  # z-up -> y-up
    return _closed(mesh)


def _tube(path, radius, sections=10):
    """A circle of `radius` swept along a polyline (N, 3), with flat caps."""
    import trimesh

    path = np.asarray(path, dtype=np.float64)
    tangents = np.gradient(path, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    seed = np.cross(tangents[0], [0.0, 1.0, 0.0] if abs(tangents[0, 1]) < 0.9 else [1.0, 0.0, 0.0])
    normals = [seed / np.linalg.norm(seed)]
    for t in tangents[1:]:  # parallel transport keeps the rings from twisting
        n = normals[-1] - t * np.dot(normals[-1], t)
        normals.append(n / np.linalg.norm(n))
    normals = np.array(normals)
    binormals = np.cross(tangents, normals)
    angles = np.linspace(0, 2 * np.pi, sections, endpoint=False)
    rings = path[:, None] + radius * (
        np.cos(angles)[None, :, None] * normals[:, None] + np.sin(angles)[None, :, None] * binormals[:, None]
    )
    n, s = len(path), sections
    vertices = np.vstack([rings.reshape(-1, 3), path[0], path[-1]])
    faces = []
    for i in range(n - 1):
        for j in range(s):
            a, b, c, d = i * s + j, i * s + (j + 1) % s, (i + 1) * s + j, (i + 1) * s + (j + 1) % s
            faces += [[a, b, d], [a, d, c]]
    for j in range(s):
        faces.append([n * s, (j + 1) % s, j])
        faces.append([n * s + 1, (n - 1) * s + j, (n - 1) * s + (j + 1) % s])
    return _closed(trimesh.Trimesh(vertices, np.array(faces), process=False))


def _rot(axis: str, degrees: float) -> np.ndarray:
    """(3, 3) rotation about a coordinate axis."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


# ----------------------------------------------------------------------------------------------
# Materials and the object builder.

MATERIALS = {
    "wood": [("oak", (176, 132, 84)), ("walnut", (110, 74, 48)), ("pine", (214, 178, 120)), ("wooden", (150, 105, 65))],
    "metal": [("steel", (150, 155, 162)), ("black metal", (52, 52, 58)), ("brass", (190, 160, 80)), ("chrome", (205, 208, 214))],
    "plastic": [("red", (200, 45, 45)), ("blue", (45, 85, 200)), ("green", (50, 150, 70)), ("yellow", (230, 190, 40)),
                ("white", (232, 232, 232)), ("black", (42, 42, 42)), ("orange", (235, 120, 30))],
    "fabric": [("grey", (140, 140, 150)), ("beige", (210, 195, 165)), ("navy", (40, 50, 100)), ("teal", (40, 130, 130)),
               ("burgundy", (120, 30, 40))],
    "ceramic": [("white", (236, 234, 228)), ("cream", (240, 225, 190)), ("blue", (60, 100, 170)), ("black", (35, 35, 38)),
                ("speckled", (190, 180, 165))],
}  # fmt: skip
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


class _Builder:
    """Collects parts for one object under the MAX_PARTS budget, with seeded random helpers."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.parts: list[tuple[str, object, tuple[int, int, int], bool]] = []
        self.params: dict = {}

    def u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def n(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def material(self, kind: str) -> tuple[str, tuple[int, int, int]]:
        return self.pick(MATERIALS[kind])

    def shade(self, rgb, amount: float = 0.1) -> tuple[int, int, int]:
        f = 1 + self.u(-amount, amount)
        return tuple(int(np.clip(c * f, 0, 255)) for c in rgb)

    def fits(self, count: int) -> bool:
        return len(self.parts) + count <= MAX_PARTS

    def add(self, label: str, mesh, color, hidden: bool = False) -> None:
        assert label in LABELS, label
        self.parts.append((label, mesh, tuple(int(c) for c in color), hidden))


def _count(n: int) -> str:
    return NUMBER_WORDS.get(n, str(n))


def _a(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _caption(b: _Builder, subject: str, features: list[str]) -> str:
    """One of a few phrasings of `subject` with `features`, chosen by the object's generator."""
    features = [f for f in features if f]
    templates = [
        lambda: f"{_a(subject)} with {_join(features)}",
        lambda: f"{_a(subject)}: {', '.join(features)}",
        lambda: f"{subject} with {_join(features)}",
        lambda: f"3d model of {_a(subject)} with {_join(features)}",
    ]
    return b.pick(templates)() if features else _a(subject)


# ----------------------------------------------------------------------------------------------
# Categories. Each builds parts into `b` and returns the caption.


def _chair(b: _Builder) -> str:
    kind = b.pick(["wood", "wood", "metal", "plastic"])
    word, rgb = b.material(kind)
    w, d, t, h = b.u(0.4, 0.6), b.u(0.4, 0.55), b.u(0.03, 0.07), b.u(0.4, 0.5)
    b.add("seat", _box([0, h - t / 2, 0], [w, t, d]), b.shade(rgb))
    features = []
    swivel = kind != "wood" and b.chance(0.35)
    b.params.update(material=word, swivel=swivel, seat=[w, d, t, h])
    leg_rgb = b.shade(rgb) if kind != "plastic" else b.shade(b.material("metal")[1])
    if swivel:
        post_r = b.u(0.025, 0.04)
        b.add("post", _rod([0, 0.07, 0], [0, h - t, 0], post_r), leg_rgb)
        reach, casters, star_r = b.u(0.25, 0.32), b.chance(0.7), b.u(0.015, 0.02)
        for k in range(5):
            angle = 2 * math.pi * k / 5 + math.pi / 2
            b.add(
                "leg",
                _rod([0, 0.07, 0], [reach * math.cos(angle), 0.05, reach * math.sin(angle)], star_r),
                leg_rgb,
            )
        if casters:
            cr = b.u(0.02, 0.03)
            for k in range(5):
                angle = 2 * math.pi * k / 5 + math.pi / 2
                b.add(
                    "caster",
                    _sphere([reach * math.cos(angle), cr, reach * math.sin(angle)], cr),
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
                b.add("leg", _rod(bottom, top, lt), leg_rgb)
            else:
                b.add("leg", _box([x, (h - t) / 2, z], [2 * lt, h - t, 2 * lt]), leg_rgb)
        features.append(f"four {'splayed ' if splay else ''}{'round' if round_legs else 'square'} legs")
        b.params.update(round_legs=round_legs, splay=splay)
        if b.chance(0.4):
            y = b.u(0.12, 0.2)
            for z in (-1, 1):
                x0, z0 = -(w / 2 - inset), z * (d / 2 - inset)
                b.add("stretcher", _rod([x0, y, z0], [-x0, y, z0], lt * 0.5), leg_rgb)
            features.append("stretchers between the legs")
    # backrest
    bh, tilt = b.u(0.3, 0.55), b.u(0, 14)
    style = b.pick(["solid", "slatted", "slatted"]) if b.fits(4) else "solid"
    pivot = np.array([0, h, -d / 2 + 0.02])
    rotation = _rot("x", -tilt)
    back_rgb = b.shade(rgb)
    if style == "solid":
        bt = b.u(0.02, 0.04)
        b.add("backrest", _box(pivot + rotation @ [0, bh / 2, 0], [w, bh, bt], rotation), back_rgb)
    else:
        pw = b.u(0.025, 0.04)
        for sx in (-1, 1):
            b.add(
                "post",
                _box(pivot + rotation @ [sx * (w / 2 - pw / 2), bh / 2, 0], [pw, bh, pw], rotation),
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
                    _box(pivot + rotation @ [x, bh * 0.5, 0], [b.u(0.02, 0.04), bh * 0.8, st], rotation),
                    back_rgb,
                )
            else:
                y = bh * (0.35 + 0.6 * (k + 1) / (n + 1))
                b.add(
                    "slat",
                    _box(pivot + rotation @ [0, y, 0], [w - 2 * pw, b.u(0.03, 0.06), st], rotation),
                    back_rgb,
                )
        style = f"slatted ({n} {'vertical' if vertical else 'horizontal'} slats)"
    height_word = "tall" if bh > 0.45 else "low" if bh < 0.36 else ""
    features.append(
        f"{_a(' '.join(filter(None, [height_word, 'tilted' if tilt > 8 else '', style.split(' (')[0]])))} backrest"
    )
    b.params.update(backrest=style, back_height=bh, tilt=tilt)
    if b.fits(2) and b.chance(0.3):
        ay = h + b.u(0.18, 0.25)
        for sx in (-1, 1):
            b.add("armrest", _box([sx * (w / 2 + 0.02), ay, 0.02], [0.05, 0.03, d * 0.8]), b.shade(rgb))
        features.append("armrests")
    if b.fits(1) and b.chance(0.3):
        cw, cd = b.material("fabric")
        b.add("cushion", _box([0, h + 0.025, 0.01], [w * 0.9, 0.05, d * 0.85]), cd)
        features.append(f"{_a(cw)} cushion")
    if b.fits(2) and b.chance(0.4):
        count = min(b.n(2, 4), MAX_PARTS - len(b.parts))
        for k in range(count):
            x = (k - (count - 1) / 2) * (w * 0.6) / max(count - 1, 1)
            b.add(
                "screw",
                _rod(
                    [x, h - t - 0.018, d / 2 - 0.05], [x, h - t + 0.004, d / 2 - 0.05], b.u(0.005, 0.007), 8
                ),
                (120, 120, 125),
                hidden=True,
            )
        b.params["screws"] = count
    subject = "office chair" if swivel else f"{word} chair"
    return _caption(b, subject, features)


def _table(b: _Builder) -> str:
    kind = b.pick(["wood", "wood", "metal", "plastic"])
    word, rgb = b.material(kind)
    shape = b.pick(["rectangular", "rectangular", "round", "square"])
    h, t = b.u(0.6, 0.78), b.u(0.025, 0.06)
    if shape == "round":
        r = b.u(0.35, 0.6)
        w = d = 2 * r
        b.add("top", _disk([0, h - t / 2, 0], r, t, sections=40), b.shade(rgb))
    else:
        w = b.u(0.8, 1.6) if shape == "rectangular" else b.u(0.6, 1.0)
        d = b.u(0.5, 0.9) if shape == "rectangular" else w
        b.add("top", _box([0, h - t / 2, 0], [w, t, d]), b.shade(rgb))
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
                b.add("leg", _rod([x, 0, z], [x, h - t, z], lt), leg_rgb)
            else:
                b.add("leg", _box([x, (h - t) / 2, z], [2 * lt, h - t, 2 * lt]), leg_rgb)
        features.append(f"four {'round' if round_legs else 'square'} legs")
        if shape != "round" and b.chance(0.5):
            apron, ah = True, b.u(0.06, 0.1)
            x0, z0 = w / 2 - lt - 0.03, d / 2 - lt - 0.03
            for sz in (-1, 1):
                b.add("apron", _box([0, h - t - ah / 2, sz * z0], [2 * x0, ah, 0.018]), leg_rgb)
            for sx in (-1, 1):
                b.add("apron", _box([sx * x0, h - t - ah / 2, 0], [0.018, ah, 2 * z0]), leg_rgb)
            features.append("an apron under the top")
        if shape != "round" and b.chance(0.25):
            sy = b.u(0.12, 0.25)
            b.add("shelf", _box([0, sy, 0], [w - 2 * lt - 0.06, 0.02, d - 2 * lt - 0.06]), b.shade(rgb))
            features.append("a lower shelf")
    elif support == "pedestal":
        pr = b.u(0.04, 0.08)
        b.add("pedestal", _rod([0, 0.03, 0], [0, h - t, 0], pr, 20), leg_rgb)
        if b.chance(0.5):
            b.add("foot", _disk([0, 0.015, 0], b.u(0.2, 0.3), 0.03, sections=32), leg_rgb)
            features.append("a pedestal on a round foot")
        else:
            n = b.n(3, 4)
            for k in range(n):
                a = 2 * math.pi * k / n
                b.add(
                    "foot",
                    _box(
                        [0.13 * math.cos(a), 0.02, 0.13 * math.sin(a)],
                        [0.26, 0.04, 0.05],
                        _rot("y", -math.degrees(a)),
                    ),
                    leg_rgb,
                )
            features.append(f"a pedestal on {_count(n)} feet")
    else:
        for sx in (-1, 1):
            b.add("leg", _box([sx * (w / 2 - 0.1), (h - t) / 2, 0], [0.04, h - t, d * 0.8]), leg_rgb)
        b.add("stretcher", _rod([-(w / 2 - 0.1), 0.15, 0], [w / 2 - 0.1, 0.15, 0], 0.02), leg_rgb)
        features.append("trestle legs joined by a stretcher")
    if shape != "round" and b.fits(2) and b.chance(0.35):
        dw, dh = min(0.45, w * 0.4), 0.08
        front = d / 2 - lt - 0.03 - (0.01 if apron else -0.02)
        b.add(
            "drawer",
            _box([0, h - t - dh / 2 - 0.005, front - 0.2], [dw, dh, 0.4]),
            b.shade(rgb),
            hidden=apron,
        )
        kr = b.u(0.01, 0.018)
        b.add(
            "knob",
            _sphere([0, h - t - dh / 2 - 0.005, front + kr * 0.6], kr),
            b.shade(b.material("metal")[1]),
        )
        features.append("a drawer with a small knob")
    b.params.update(material=word, shape=shape, support=support, top=[w, d, t, h])
    return _caption(b, f"{shape} {word} table", features)


def _lamp(b: _Builder) -> str:
    word, rgb = b.material(b.pick(["metal", "plastic"]))
    floor = b.chance(0.35)
    base_r = b.u(0.08, 0.14) * (1.4 if floor else 1)
    base_h = b.u(0.02, 0.04)
    square = b.chance(0.3)
    b.add(
        "base",
        _box([0, base_h / 2, 0], [2 * base_r, base_h, 2 * base_r])
        if square
        else _disk([0, base_h / 2, 0], base_r, base_h),
        b.shade(rgb),
    )
    features = [f"{_a('square' if square else 'round')} base"]
    stem_r = b.u(0.008, 0.015)
    jointed = not floor and b.chance(0.45)
    if jointed:
        a1, a2 = b.u(15, 40), b.u(40, 80)
        l1, l2 = b.u(0.25, 0.4), b.u(0.2, 0.35)
        p0 = np.array([0, base_h, 0])
        p1 = p0 + l1 * np.array([0, math.cos(math.radians(a1)), -math.sin(math.radians(a1))])
        p2 = p1 + l2 * np.array([0, math.cos(math.radians(a2 + 60)), math.sin(math.radians(a2 + 60))])
        b.add("arm", _rod(p0, p1, stem_r), b.shade(rgb))
        b.add("joint", _sphere(p1, stem_r * 2.2), b.shade(rgb))
        b.add("arm", _rod(p1, p2, stem_r), b.shade(rgb))
        top = p2
        features.append("two jointed arms")
    else:
        sh = b.u(1.2, 1.6) if floor else b.u(0.3, 0.55)
        top = np.array([0, base_h + sh, 0])
        b.add("stem", _rod([0, base_h, 0], top, stem_r * (1.5 if floor else 1)), b.shade(rgb))
        features.append(f"{_a('tall' if floor else 'straight')} stem")
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
    b.add("shade", _lathe(profile, center), shade_rgb)
    b.add(
        "bulb",
        _sphere([top[0], base_y + sh_h * 0.35, top[2]], min(r_top, r_bottom) * 0.5),
        (250, 240, 190),
        hidden=True,
    )
    features.append(f"{_a(shade_word)} {style} shade")
    if b.fits(1) and b.chance(0.6):
        s = b.u(0.018, 0.028)
        b.add("switch", _box([base_r * 0.6, base_h + s / 4, 0], [s, s / 2, s]), (30, 30, 30))
        features.append("a small switch on the base")
    if b.fits(1) and b.chance(0.3) and style != "dome":
        b.add("finial", _sphere([top[0], base_y + sh_h + 0.015, top[2]], 0.012), b.shade(rgb))
    b.params.update(material=word, floor=floor, jointed=jointed, shade=style)
    return _caption(b, f"{word} {'floor' if floor else 'desk'} lamp", features)


def _mug(b: _Builder) -> str:
    word, rgb = b.material("ceramic")
    r, h = b.u(0.04, 0.06), b.u(0.08, 0.12)
    r_top = r * b.u(0.95, 1.2)
    wall, bottom = b.u(0.006, 0.01), b.u(0.008, 0.014)
    profile = [[0, 0], [r, 0], [r_top, h], [r_top - wall, h], [r - wall, bottom], [0, bottom]]
    b.add("body", _lathe(profile, sections=32), b.shade(rgb))
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
    b.add("handle", _tube(path, hr), b.shade(rgb))
    features.append(f"{_a(style)} handle")
    if b.chance(0.4):
        sr = r * b.u(1.6, 2.0)
        b.add("saucer", _lathe([[0, -0.008], [sr, -0.008], [sr, 0.0], [0, 0.0]], sections=36), b.shade(rgb))
        features.append("a saucer")
    if b.chance(0.2):
        b.add("lid", _disk([0, h + 0.003, 0], r_top + 0.003, 0.006, sections=32), b.shade(rgb))
        b.add("knob", _sphere([0, h + 0.01, 0], 0.008), b.shade(rgb))
        features.append("a lid")
    elif b.chance(0.3):
        b.add(
            "spoon",
            _capsule([-r * 0.3, bottom + 0.01, 0], [-r_top * 0.6, h * 1.35, 0.0], 0.004),
            (200, 205, 210),
        )
        features.append("a spoon inside")
    b.params.update(material=word, radius=r, height=h, handle=style)
    return _caption(b, f"{word} mug", features)


def _shelf(b: _Builder) -> str:
    word, rgb = b.material(b.pick(["wood", "wood", "metal", "plastic"]))
    w, h, d, t = b.u(0.6, 1.2), b.u(0.8, 2.0), b.u(0.25, 0.4), b.u(0.015, 0.03)
    c = b.shade(rgb, 0.05)
    for sx in (-1, 1):
        b.add("side", _box([sx * (w / 2 - t / 2), h / 2, 0], [t, h, d]), c)
    plinth = b.chance(0.3)
    bottom = 0.06 if plinth else 0.0
    for y in (bottom + t / 2, h - t / 2):
        b.add("board", _box([0, y, 0], [w - 2 * t, t, d]), c)
    n = b.n(1, 4)
    levels = [bottom + t / 2 + (k + 1) * (h - t - bottom - t / 2) / (n + 1) for k in range(n)]
    for y in levels:
        b.add("board", _box([0, y, 0.005], [w - 2 * t, t, d - 0.01]), c)
    features = [f"{_count(n + 2)} shelves"]
    if plinth:
        b.add("plinth", _box([0, bottom / 2, d / 2 - 0.03], [w - 2 * t, bottom, 0.02]), c)
    back = b.chance(0.7)
    if back:
        b.add("back_panel", _box([0, h / 2, -d / 2 + 0.004], [w - 2 * t, h - 0.002, 0.008]), b.shade(rgb))
        features.append("a back panel")
    doors = b.fits(4) and b.chance(0.25)
    if doors:
        door_top = levels[0] if n else h / 2
        dh = door_top - bottom - t
        for sx in (-1, 1):
            b.add(
                "door",
                _box(
                    [sx * (w / 4 - t / 2), bottom + t + dh / 2, d / 2 + 0.008], [w / 2 - t - 0.004, dh, 0.014]
                ),
                b.shade(rgb),
            )
            b.add(
                "handle",
                _sphere([sx * 0.04, bottom + t + dh * 0.6, d / 2 + 0.025], 0.012),
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
                _box([x + bw / 2, level + t / 2 + bh / 2, 0], [bw, bh, d * b.u(0.6, 0.85)]),
                b.material("plastic")[1],
            )
            x += bw + 0.002
        features.append(f"{_count(count)} books")
    b.params.update(material=word, width=w, height=h, shelves=n, back=back, doors=doors)
    tall = "tall " if h > 1.5 else "low " if h < 1.0 else ""
    return _caption(b, f"{tall}{word} bookshelf", features)


def _bed(b: _Builder) -> str:
    word, rgb = b.material(b.pick(["wood", "wood", "metal"]))
    w, length = b.u(0.9, 1.8), b.u(1.9, 2.1)
    leg_h, fh = b.u(0.08, 0.25), b.u(0.15, 0.3)
    b.add("frame", _box([0, leg_h + fh / 2, 0], [w, fh, length]), b.shade(rgb))
    mw, mc = b.material("fabric")
    mh = b.u(0.15, 0.25)
    top = leg_h + fh + mh
    b.add("mattress", _box([0, leg_h + fh + mh / 2, 0], [w - 0.04, mh, length - 0.04]), (235, 235, 230))
    hb = b.u(0.4, 0.8)
    b.add(
        "headboard",
        _box([0, (leg_h + fh + hb) / 2, -length / 2 - 0.03], [w + 0.04, leg_h + fh + hb, 0.06]),
        b.shade(rgb),
    )
    features = [f"{_a('tall' if hb > 0.6 else 'low')} headboard"]
    if b.chance(0.5):
        fb = b.u(0.1, 0.3)
        b.add(
            "footboard",
            _box([0, (leg_h + fh + fb) / 2, length / 2 + 0.03], [w + 0.04, leg_h + fh + fb, 0.05]),
            b.shade(rgb),
        )
        features.append("a footboard")
    lt = b.u(0.025, 0.045)
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.add(
                "leg",
                _box(
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
            _ellipsoid([x, top + 0.05, -length / 2 + 0.25], [min(0.3, w / 2 - 0.05), 0.06, 0.15]),
            (245, 245, 245),
        )
    features.append(f"{_count(pillows)} pillow{'s' if pillows > 1 else ''}")
    if b.chance(0.5):
        b.add("blanket", _box([0, top + 0.01, length * 0.12], [w + 0.02, 0.02, length * 0.72]), mc)
        features.append(f"{_a(mw)} blanket")
    b.params.update(material=word, width=w, legs=leg_h, pillows=pillows)
    size = "double" if w > 1.3 else "single"
    return _caption(b, f"{size} {word} bed", features)


def _toy_car(b: _Builder) -> str:
    word, rgb = b.material("plastic")
    length, w, bh = b.u(0.8, 1.2), b.u(0.4, 0.55), b.u(0.15, 0.25)
    wr, ww = b.u(0.08, 0.14), b.u(0.05, 0.08)
    body_y = wr + bh / 2 - 0.02
    b.add("body", _box([0, body_y, 0], [w, bh, length]), b.shade(rgb))
    cl, ch = length * b.u(0.35, 0.55), b.u(0.1, 0.18)
    cz = b.u(-0.15, 0.05) * length
    b.add("cabin", _box([0, body_y + bh / 2 + ch / 2, cz], [w * 0.85, ch, cl]), b.shade(rgb, 0.25))
    wheel_z = length / 2 - wr - 0.03
    for z in (-wheel_z, wheel_z):
        for sx in (-1, 1):
            b.add("wheel", _disk([sx * (w / 2 + ww / 2), wr, z], wr, ww, axis="x", sections=20), (30, 30, 30))
    for z in (-wheel_z, wheel_z):
        b.add(
            "axle",
            _rod([-(w / 2 + ww * 0.6), wr, z], [w / 2 + ww * 0.6, wr, z], b.u(0.01, 0.018), 8),
            (120, 120, 125),
            hidden=True,
        )
    features = ["four black wheels"]
    hl = b.u(0.015, 0.03)
    for sx in (-1, 1):
        b.add("headlight", _sphere([sx * w * 0.3, body_y + bh * 0.15, length / 2], hl), (250, 240, 170))
    features.append("round headlights")
    if b.chance(0.3):
        b.add(
            "spoiler",
            _box([0, body_y + bh / 2 + 0.04, -length / 2 + 0.05], [w * 0.9, 0.015, 0.08]),
            b.shade(rgb),
        )
        features.append("a rear spoiler")
    if b.chance(0.3):
        b.add(
            "antenna",
            _rod(
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
                    _disk([sx * (w / 2 + ww + 0.004), wr, z], wr * 0.45, 0.008, axis="x"),
                    (210, 210, 215),
                )
        features.append("silver hubcaps")
    b.params.update(material=word, length=length, wheel_radius=wr)
    return _caption(b, f"{word} toy car", features)


def _plane(b: _Builder) -> str:
    word, rgb = b.material("plastic")
    length, fr = b.u(1.0, 1.6), b.u(0.07, 0.12)
    b.add("fuselage", _capsule([0, 0, -length / 2 + fr], [0, 0, length / 2 - fr], fr), b.shade(rgb))
    span, chord, wt = b.u(0.9, 1.6), b.u(0.15, 0.3), b.u(0.02, 0.035)
    sweep = b.u(0, 25) if b.chance(0.5) else 0.0
    wing_rgb = b.shade(rgb, 0.2)
    wz = b.u(-0.05, 0.1) * length
    for sx in (-1, 1):
        rotation = _rot("y", sx * sweep)
        root = np.array([0, -fr * 0.3, wz])
        b.add(
            "wing", _box(root + rotation @ [sx * span / 4, 0, 0], [span / 2, wt, chord], rotation), wing_rgb
        )
    features = [f"{'swept' if sweep > 10 else 'straight'} wings"]
    fin_h = b.u(0.15, 0.3)
    b.add(
        "tail_fin",
        _box(
            [0, fr + fin_h / 2 - 0.02, -length / 2 + chord * 0.4],
            [wt * 0.8, fin_h, chord * 0.7],
            _rot("x", -15),
        ),
        wing_rgb,
    )
    for sx in (-1, 1):
        b.add(
            "stabilizer",
            _box([sx * span * 0.14, 0, -length / 2 + chord * 0.35], [span * 0.25, wt * 0.8, chord * 0.55]),
            wing_rgb,
        )
    features.append("a tail fin")
    engines = b.pick([0, 0, 2, 4])
    for k in range(engines):
        x = (span * (0.18 if k < 2 else 0.34)) * (1 if k % 2 else -1)
        b.add(
            "engine",
            _rod(
                [x, -fr * 0.3 - 0.06, wz + chord * 0.6],
                [x, -fr * 0.3 - 0.06, wz - chord * 0.3],
                b.u(0.035, 0.05),
                16,
            ),
            (170, 170, 175),
        )
    if engines:
        features.append(f"{_count(engines)} jet engines")
    else:
        nose = length / 2
        b.add("hub", _sphere([0, 0, nose + 0.01], fr * 0.35), (60, 60, 60))
        blade = b.u(0.25, 0.4)
        b.add(
            "propeller", _box([0, 0, nose + 0.02], [blade, 0.03, 0.008], _rot("z", b.u(0, 90))), (60, 60, 60)
        )
        features.append("a propeller")
    if b.chance(0.7):
        b.add(
            "canopy",
            _ellipsoid([0, fr * 0.6, length * 0.22], [fr * 0.6, fr * 0.55, fr * 1.6]),
            (120, 180, 220),
        )
        features.append("a glass canopy")
    if b.fits(3) and b.chance(0.3):
        for x, z in [(-0.12, wz), (0.12, wz), (0.0, length * 0.35)]:
            b.add("wheel", _disk([x * span, -fr - 0.03, z], 0.03, 0.02, axis="x", sections=12), (30, 30, 30))
        features.append("landing wheels")
    b.params.update(material=word, length=length, span=span, sweep=sweep, engines=engines)
    return _caption(b, f"{word} toy plane", features)


CATEGORIES: dict[str, Callable[[_Builder], str]] = {
    "chair": _chair,
    "table": _table,
    "lamp": _lamp,
    "mug": _mug,
    "shelf": _shelf,
    "bed": _bed,
    "toy_car": _toy_car,
    "plane": _plane,
}
"""Category name -> builder (adds parts to a `_Builder`, returns the caption)."""


# ----------------------------------------------------------------------------------------------
# Objects, splits and the on-disk build.


@dataclass(frozen=True, eq=False)
class PartObject:
    """One generated object.

    Attributes:
        id: "<category>-<index:06d>", e.g. "chair-000042".
        category, index: what `generate` was called with.
        split: "train", "val" or "test" (`split_of(id)`).
        caption: a sentence describing the sampled parameters.
        mesh: the parts, normalized to [-1, 1]^3, largest box half-surface-area first.
        hidden: names of parts that are mostly occluded by design (a bulb inside a shade).
        params: the sampled parameters (JSON-serializable).
    """

    id: str
    category: str
    index: int
    split: str
    caption: str
    mesh: PartMesh
    hidden: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    @cached_property
    def boxes(self) -> np.ndarray:
        """(K, 6) float32 [center, size] per part, object frame [-1, 1]^3."""
        return self.mesh.boxes()

    @property
    def label_ids(self) -> np.ndarray:
        """(K,) int64 indices of the part labels in `LABELS`."""
        return np.array([LABELS.index(label) for label in self.mesh.labels], dtype=np.int64)

    def part_grids(self, resolution: int = 32, **kwargs) -> np.ndarray:
        """(K, R, R, R) bool, each part voxelized in its own box frame (`gfx.mesh.parts.part_grids`)."""
        from gfx.mesh.parts import part_grids

        return part_grids(self.mesh, resolution, **kwargs)

    def object_grid(self, resolution: int = 64, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        """The shared-grid view: (R, R, R) bool occupancy and (R, R, R) int64 part ids over [-1, 1]^3."""
        from gfx.mesh.voxels import voxelize_parts

        return voxelize_parts(self.mesh, resolution, **kwargs)

    def record(self) -> dict:
        """JSON-serializable metadata (everything except the geometry)."""
        return {
            "id": self.id,
            "category": self.category,
            "index": self.index,
            "split": self.split,
            "caption": self.caption,
            "parts": [
                {
                    "name": p.name,
                    "label": p.label,
                    "color": list(p.color),
                    "box": [round(float(v), 6) for v in box],
                    "hidden": p.name in self.hidden,
                }
                for p, box in zip(self.mesh, self.boxes, strict=True)
            ],  # fmt: skip
            "params": self.params,
        }


def object_id(category: str, index: int) -> str:
    return f"{category}-{index:06d}"


def split_of(object_id: str) -> str:
    """The split of an object id (`SPLIT_RULE`)."""
    bucket = int(hashlib.sha256(object_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 90 else "val" if bucket < 95 else "test"


def _seed(category: str, index: int) -> int:
    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{category}:{index}".encode()).hexdigest()
    return int(digest[:16], 16)


def get_category(name: str) -> Callable[[_Builder], str]:
    if name not in CATEGORIES:
        raise KeyError(f"unknown part category {name!r}; valid: {', '.join(CATEGORIES)}")
    return CATEGORIES[name]


def generate(category: str, index: int) -> PartObject:
    """The object number `index` of `category`; the same on every call and machine."""
    from gfx.mesh.structures import Part, PartMesh

    if index < 0:
        raise ValueError(f"object index must be >= 0, got {index}")
    builder = _Builder(np.random.default_rng(_seed(category, index)))
    caption = get_category(category)(builder)
    labels = [label for label, *_ in builder.parts]
    parts = []
    for k, (label, mesh, color, _) in enumerate(builder.parts):
        name = label if labels.count(label) == 1 else f"{label}_{labels[:k].count(label)}"
        parts.append(Part(name, label, mesh.vertices, mesh.faces, color + (255,)))
    hidden = tuple(p.name for p, (*_, is_hidden) in zip(parts, builder.parts, strict=True) if is_hidden)
    mesh = PartMesh(parts).normalized()
    sizes = mesh.boxes()[:, 3:].astype(np.float64)
    half_area = sizes[:, 0] * sizes[:, 1] + sizes[:, 1] * sizes[:, 2] + sizes[:, 2] * sizes[:, 0]
    mesh = PartMesh([mesh[int(k)] for k in np.argsort(-half_area, kind="stable")])
    params = json.loads(json.dumps(builder.params, default=float))
    oid = object_id(category, index)
    return PartObject(oid, category, index, split_of(oid), caption, mesh, hidden, params)


def iter_objects(
    n_per_category: int, split: str | None = None, categories: Iterable[str] | None = None
) -> Iterator[PartObject]:
    """Objects 0..n_per_category-1 of each category (all categories by default), keeping one split if given."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    for category in categories or CATEGORIES:
        get_category(category)
        for index in range(n_per_category):
            if split is None or split_of(object_id(category, index)) == split:
                yield generate(category, index)


def build_parts(
    out_dir: str | Path,
    n_per_category: int = 500,
    progress: ProgressFn | None = None,
    *,
    categories: Iterable[str] | None = None,
    resolution: int = 32,
    glb: bool = True,
    previews: bool = False,
) -> dict:
    """Generate the dataset and write it to `out_dir`.

    Writes:
        objects.jsonl.gz: one `PartObject.record()` per line.
        grids_<R>_<split>.npz: per-part occupancy for models, arrays `ids` (N,), `offsets` (N + 1,)
            (parts of object n are rows offsets[n]:offsets[n+1]), `boxes` (P, 6) float32,
            `labels` (P,) int64 into `LABELS`, `grids` (P, R^3 / 8) uint8 (`np.packbits` of each
            (R, R, R) bool part grid in C order; `np.unpackbits(..., count=R**3)` restores it).
        glb/<id>.glb (if `glb`), previews/<id>.png (if `previews`), manifest.json.

    Args:
        out_dir: output folder (created).
        n_per_category: objects per category (indices 0..n-1).
        progress: optional `progress(category, done, total)` callback.
        categories: subset of `CATEGORIES` (default all).
        resolution: R of the per-part grids.
        glb: also write one GLB per object.
        previews: also write a 4-view PNG per object (about 0.1 s each).

    Returns:
        The manifest dict that was written.
    """
    from gfx.mesh.export import to_glb

    out_dir = Path(out_dir)
    names = list(categories or CATEGORIES)
    for name in names:
        get_category(name)
    records, arrays = (
        [],
        {s: {"ids": [], "offsets": [0], "boxes": [], "labels": [], "grids": []} for s in SPLITS},
    )
    counts = {name: dict.fromkeys(SPLITS, 0) for name in names}
    for category in names:
        for index in range(n_per_category):
            obj = generate(category, index)
            records.append(obj.record())
            counts[category][obj.split] += 1
            a = arrays[obj.split]
            a["ids"].append(obj.id)
            a["offsets"].append(a["offsets"][-1] + len(obj.mesh))
            a["boxes"].append(obj.boxes)
            a["labels"].append(obj.label_ids)
            a["grids"].append(np.packbits(obj.part_grids(resolution).reshape(len(obj.mesh), -1), axis=1))
            if glb:
                write_bytes(out_dir / "glb" / f"{obj.id}.glb", to_glb(obj.mesh))
            if previews:
                from gfx.mesh.render import preview

                preview(obj.mesh, out_dir / "previews" / f"{obj.id}.png", size=128)
            if progress:
                progress(category, index + 1, n_per_category)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    write_bytes(out_dir / "objects.jsonl.gz", gzip.compress(lines.encode("utf-8"), mtime=0))
    for split, a in arrays.items():
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            ids=np.array(a["ids"], dtype=str),
            offsets=np.array(a["offsets"], dtype=np.int64),
            boxes=np.concatenate(a["boxes"]) if a["boxes"] else np.zeros((0, 6), np.float32),
            labels=np.concatenate(a["labels"]) if a["labels"] else np.zeros(0, np.int64),
            grids=np.concatenate(a["grids"]) if a["grids"] else np.zeros((0, resolution**3 // 8), np.uint8),
        )
        write_bytes(out_dir / f"grids_{resolution}_{split}.npz", buffer.getvalue())
    manifest = {
        "generator": GENERATOR_VERSION,
        "categories": names,
        "n_per_category": n_per_category,
        "counts": counts,
        "split_rule": SPLIT_RULE,
        "resolution": resolution,
        "labels": list(LABELS),
        "built": datetime.date.today().isoformat(),
    }
    write_text(out_dir / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %d objects to %s", len(records), out_dir)
    return manifest


def load_part_grids(path: str | Path) -> dict[str, np.ndarray]:
    """Read a `grids_<R>_<split>.npz` of `build_parts`, unpacking `grids` to (P, R, R, R) bool."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    r = round(int(arrays["grids"].shape[1] * 8) ** (1 / 3))
    arrays["grids"] = np.unpackbits(arrays["grids"], axis=1, count=r**3).reshape(-1, r, r, r).astype(bool)
    return arrays
