"""`make demo` and `make sheets`: contact sheets of what gfx does, from the public API.

    python -m gfx.apps.demo demo-out               # all sheets + the generated SVGs, into demo-out/
    python -m gfx.apps.demo docs/images --sheets   # only the sheets README shows

1. corpus.png: corpus icons as shipped | normalized | decoded from PathTokenizer tokens | decoded from
   SemanticTokenizer tokens (each column should look the same).
2. text-to-icon.png (+ icons/*.svg): the shipped IconShop model in its default style (outline) on `ICON_PROMPTS`,
   3 seeds each, beside the retrieval baseline (the training icon whose prompt is nearest, among the concept-disjoint
   protocol's training icons); the first 12 prompts are concepts that protocol holds out. text-to-icon-llm4svg.png
   (+ icons/llm4svg/*.svg): the same for the shipped LLM4SVG model.
3. image-to-svg.png: test icons | the default vectorizer | neural+refine | vtracer.
4. text-to-mesh.png: one prompt per part category, 3 seeds, beside a ground-truth object of the category.
5. text-to-image.png: the shipped shapes-diffusion model on the captions of `IMAGE_SCENES` held-out world scenes,
   4 seeds each, beside the world's own render of the scene the caption describes; text-to-image-hita.png and
   text-to-image-xar.png: the same for the autoregressive hita-mini and xar-mini.
6. style-tokenizer.png: the shipped StyleTokenizer on held-out content prompts, each with a reference of other
   shapes in a drawn style (the cases of `gfx eval image-controls`), 4 seeds, beside the reference.
7. concepts.png: the learned word for the world's unseen shape in the context prompts of `gfx eval
   image-controls`, CoRe (core-concept) beside plain textual inversion, 2 seeds each.
8. geom-erasing.png: held-out world captions (the first of `gfx eval image-controls`' Geom-Erasing prompts), 4
   seeds, from the base model as it is and from the shipped geom-erasing pipeline steering away from its words:
   the corner mark should go, the objects stay.
"""

from __future__ import annotations

import sys
from pathlib import Path

HELD_OUT_PROMPTS = ["apple", "arrow down", "bell", "bike", "cake", "car", "dog", "eye", "mail", "phone", "rocket",
                    "star"]
"""Concepts of `gfx.recipes.icon_protocols.held_out_concepts` (a test checks it)."""
SEEN_PROMPTS = ["house", "arrow left", "heart", "camera", "cloud rain", "lock", "music", "trash", "moon", "search",
                "home", "calendar"]
ICON_PROMPTS = HELD_OUT_PROMPTS + SEEN_PROMPTS
SEEDS = (0, 1, 2)
MESH_PROMPTS = {
    "chair": "a wooden chair with four legs",
    "table": "a round table with a central pedestal",
    "lamp": "a desk lamp with a conical shade",
    "toy_car": "a small toy car with four wheels",
    "plane": "an airplane with two wings",
    "shelf": "a bookshelf with four shelves",
    "bed": "a bed with a headboard",
    "mug": "a mug with a handle",
}
IMAGE_SCENES = 10
IMAGE_SEEDS = (0, 1, 2, 3)
STYLE_CASES = 8
CONCEPT_SEEDS = (0, 1)


def corpus_sheet(out_dir: Path, per_source: int = 3) -> Path:
    from gfx.data.icons import ICON_SOURCES, load_icons
    from gfx.svg.core.normalize import normalize
    from gfx.svg.core.parse import parse_svg
    from gfx.svg.core.render import contact_sheet, render, save_png
    from gfx.svg.tokenizers.registry import default_tokenizer

    path_tok, semantic_tok = default_tokenizer("path"), default_tokenizer("semantic")
    rows, labels = [], []
    for source in ICON_SOURCES:
        for record in load_icons(source, split="test")[:per_source]:
            doc = parse_svg(record.original)
            via_path = path_tok.decode(path_tok.encode(normalize(doc)))
            via_semantic = semantic_tok.decode(semantic_tok.encode(normalize(doc, to_paths=False)))
            rows.append([render(x, 96) for x in (record.original, record.svg, via_path, via_semantic)])
            labels.append(f"{source}/{record.name}"[:28])
    sheet = contact_sheet(rows, labels, ["original", "normalized", "path tokens", "semantic tokens"])
    save_png(sheet, out_dir / "corpus.png")
    return out_dir / "corpus.png"


def icon_sheet(out_dir: Path, svgs: bool = True, model: str | None = None, name: str = "text-to-icon.png") -> Path:
    """`ICON_PROMPTS` x `SEEDS` from the shipped model of task `model` (default: IconShop) beside retrieval."""
    import gfx
    from gfx.models import model_path
    from gfx.recipes.icon_protocols import training_records
    from gfx.svg.core.render import contact_sheet, render, save_png
    from gfx.svg.icon_retrieval import IconIndex

    index = IconIndex.build(training_records())
    model_dir = None if model is None else str(model_path(model))
    rows = []
    for prompt in ICON_PROMPTS:
        results = [gfx.svg.generate(prompt, n=1, seed=s, model=model_dir)[0] for s in SEEDS]
        if svgs:
            for seed, result in zip(SEEDS, results, strict=True):
                result.save(out_dir / "icons" / (model or "") / f"{prompt.replace(' ', '-')}-{seed}.svg")
        retrieved = index.svgs[int(index.nearest(prompt)[0])]
        rows.append([r.render(96) for r in results] + [render(retrieved, 96)])
    labels = [f"{p} (held out)" if p in HELD_OUT_PROMPTS else p for p in ICON_PROMPTS]
    columns = [f"seed {s}" for s in SEEDS] + ["retrieval"]
    save_png(contact_sheet(rows, labels, columns), out_dir / name)
    return out_dir / name


def vectorize_sheet(out_dir: Path, count: int = 8) -> Path:
    import gfx
    from gfx.data.icons import load_icons
    from gfx.svg.core.render import contact_sheet, render, save_png

    methods = ["centerline+refine", "neural+refine", "vtracer"]
    records = load_icons(split="test")[:: 97][:count]
    rows = []
    for record in records:
        image = render(record.svg, 128)
        rows.append([image] + [gfx.svg.vectorize(image[..., :3], method=m).render(128) for m in methods])
    save_png(contact_sheet(rows, [r.name[:24] for r in records], ["input", *methods]), out_dir / "image-to-svg.png")
    return out_dir / "image-to-svg.png"


def mesh_sheet(out_dir: Path) -> Path:
    import gfx
    from gfx.data.parts3d import generate
    from gfx.mesh.render import View, render
    from gfx.recipes.parts3d import part_mesh
    from gfx.svg.core.render import contact_sheet, save_png

    view = View(azimuth=35, elevation=25)
    rows = []
    for category, prompt in MESH_PROMPTS.items():
        generated = [render(gfx.mesh.generate(prompt, seed=s), view, 160) for s in SEEDS]
        rows.append(generated + [render(part_mesh(generate(category, 0)), view, 160)])
    labels = [f"{c}: {p}"[:40] for c, p in MESH_PROMPTS.items()]
    save_png(contact_sheet(rows, labels, [f"seed {s}" for s in SEEDS] + ["ground truth"]), out_dir / "text-to-mesh.png")
    return out_dir / "text-to-mesh.png"


def image_sheet(out_dir: Path, model: str | None = None, name: str = "text-to-image.png") -> Path:
    """`name`: a text -> image model (`gfx.image.generate`'s `model`; default the shipped diffusion model) on the
    captions of `IMAGE_SCENES` held-out world scenes, `IMAGE_SEEDS`, beside the world's render of each scene."""
    import numpy as np

    import gfx.image
    from gfx.data.shapes2d.raster import render
    from gfx.data.shapes2d.world import WorldConfig, caption, sample_scene
    from gfx.recipes.image_eval import split_seed
    from gfx.svg.core.render import contact_sheet, save_png

    rng = np.random.default_rng(split_seed("test"))
    scenes = [sample_scene(rng, WorldConfig(mark_prob=0)) for _ in range(IMAGE_SCENES)]
    captions = [caption(scene, rng) for scene in scenes]
    rows = []
    for scene, text in zip(scenes, captions, strict=True):
        images = [np.asarray(r.image) for r in gfx.image.generate(text, n=len(IMAGE_SEEDS), seed=IMAGE_SEEDS[0],
                                                                   model=model)]
        rows.append([doubled(im) for im in images + [render(scene)]])
    columns = [f"seed {s}" for s in IMAGE_SEEDS] + ["world render"]
    save_png(contact_sheet(rows, [c[:48] for c in captions], columns), out_dir / name)
    return out_dir / name


def doubled(image):
    """(S, S, 3) uint8 -> (2S, 2S, 3): world images at a size a sheet shows."""
    import numpy as np

    return np.kron(np.asarray(image), np.ones((2, 2, 1), np.uint8))


def style_sheet(out_dir: Path) -> Path:
    """style-tokenizer.png (module docstring): reference | 4 seeds per held-out case."""
    import numpy as np

    from gfx.image.pipeline import load_pipeline
    from gfx.image.style_tokenizer import Style, load_style_tokenizer
    from gfx.models import MODELS_DIR
    from gfx.recipes.image_controls import style_cases
    from gfx.recipes.image_eval import split_seed
    from gfx.svg.core.render import contact_sheet, save_png

    model = load_style_tokenizer(MODELS_DIR / "style-tokenizer")
    pipe = load_pipeline(MODELS_DIR / "shapes-diffusion")
    rows, labels = [], []
    for prompt, _, style, reference, _ in style_cases(np.random.default_rng(split_seed("test") + 2), STYLE_CASES):
        images = [r.image for r in pipe(prompt, n=len(IMAGE_SEEDS), seed=IMAGE_SEEDS[0],
                                        controls=[Style(model, reference)])]
        rows.append([doubled(im) for im in [reference, *images]])
        labels.append(f"{prompt} | ref {style}")
    save_png(contact_sheet(rows, labels, ["reference"] + [f"seed {s}" for s in IMAGE_SEEDS]),
             out_dir / "style-tokenizer.png")
    return out_dir / "style-tokenizer.png"


def concept_sheet(out_dir: Path) -> Path:
    """concepts.png (module docstring): per context prompt, CoRe's and textual inversion's samples."""
    from gfx.image.core import Concept
    from gfx.image.pipeline import load_pipeline
    from gfx.models import MODELS_DIR
    from gfx.recipes.image_controls import CONCEPT_CONTEXTS
    from gfx.svg.core.render import contact_sheet, save_png

    pipe = load_pipeline(MODELS_DIR / "shapes-diffusion")
    methods = {"CoRe": Concept(MODELS_DIR / "core-concept"),
               "textual inversion": Concept(MODELS_DIR / "textual-inversion-concept")}
    rows, labels = [], []
    for template, _ in CONCEPT_CONTEXTS:
        row = []
        for control in methods.values():
            results = pipe(template.format(control.token), n=len(CONCEPT_SEEDS), seed=CONCEPT_SEEDS[0],
                           controls=[control])
            row += [doubled(r.image) for r in results]
        rows.append(row)
        labels.append(template.format("<concept>"))
    columns = [f"{name} seed {s}" for name in methods for s in CONCEPT_SEEDS]
    save_png(contact_sheet(rows, labels, columns), out_dir / "concepts.png")
    return out_dir / "concepts.png"


def erasing_sheet(out_dir: Path, count: int = 8) -> Path:
    """geom-erasing.png (module docstring): per caption, the base's samples, then the same seeds with Geom-Erasing."""
    import numpy as np

    from gfx.data.shapes2d.world import caption, sample_scene
    from gfx.image.geom_erasing import GeomErasing
    from gfx.image.pipeline import load_pipeline
    from gfx.models import MODELS_DIR
    from gfx.recipes.image_eval import split_seed
    from gfx.svg.core.render import contact_sheet, save_png

    tuned = load_pipeline(MODELS_DIR / "geom-erasing")
    base = load_pipeline(MODELS_DIR / "shapes-diffusion")
    control = GeomErasing(MODELS_DIR / "geom-erasing")
    rng = np.random.default_rng(split_seed("test"))  # the evaluation's caption stream
    rows, labels = [], []
    for text in [caption(sample_scene(rng), rng) for _ in range(count)]:
        plain = base(text, n=len(IMAGE_SEEDS), seed=IMAGE_SEEDS[0])
        erased = tuned(text, n=len(IMAGE_SEEDS), seed=IMAGE_SEEDS[0], controls=[control])
        rows.append([doubled(r.image) for r in [*plain, *erased]])
        labels.append(text[:48])
    columns = [f"{name} seed {s}" for name in ("base", "erasing") for s in IMAGE_SEEDS]
    save_png(contact_sheet(rows, labels, columns), out_dir / "geom-erasing.png")
    return out_dir / "geom-erasing.png"


def main(argv: list[str]) -> int:
    sheets_only = "--sheets" in argv
    args = [a for a in argv if a != "--sheets"]
    out_dir = Path(args[0] if args else "demo-out")
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = [lambda: icon_sheet(out_dir, svgs=not sheets_only),
             lambda: icon_sheet(out_dir, not sheets_only, "llm4svg", "text-to-icon-llm4svg.png"),
             lambda: vectorize_sheet(out_dir),
             lambda: mesh_sheet(out_dir), lambda: image_sheet(out_dir),
             lambda: image_sheet(out_dir, "hita-mini", "text-to-image-hita.png"),
             lambda: image_sheet(out_dir, "xar-mini", "text-to-image-xar.png"),
             lambda: style_sheet(out_dir), lambda: concept_sheet(out_dir), lambda: erasing_sheet(out_dir)]
    if not sheets_only:
        steps.insert(0, lambda: corpus_sheet(out_dir))
    for step in steps:
        try:
            print(step())
        except FileNotFoundError as err:  # a shipped model is missing
            print(f"skipped: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
