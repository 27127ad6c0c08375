"""`make demo`: contact sheets of what gfx can do so far, written to demo-out/.

1. corpus.png: corpus icons as shipped | normalized | decoded from PathTokenizer tokens | decoded from
   SemanticTokenizer tokens (each column should look the same).
2. icons.png + icons/*.svg: text -> icon with the shipped IconShop model for a fixed list of prompts.
Uses the public gfx API only.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROMPTS = ["house", "arrow left", "heart", "camera", "user", "settings gear", "cloud rain", "lock",
           "music note", "star", "trash can", "bell"]


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


def icon_sheet(out_dir: Path, n: int = 4, seed: int = 0) -> Path:
    import gfx
    from gfx.svg.core.render import contact_sheet, save_png

    rows = []
    (out_dir / "icons").mkdir(parents=True, exist_ok=True)
    for prompt in PROMPTS:
        results = gfx.svg.generate(prompt, n=n, seed=seed)
        for i, result in enumerate(results):
            result.save(out_dir / "icons" / f"{prompt.replace(' ', '-')}-{i}.svg")
        rows.append([r.render(96) for r in results])
    save_png(contact_sheet(rows, PROMPTS, [f"seed {seed}, #{i}" for i in range(n)]), out_dir / "icons.png")
    return out_dir / "icons.png"


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "demo-out")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(corpus_sheet(out_dir))
    try:
        print(icon_sheet(out_dir))
    except FileNotFoundError as err:  # no shipped IconShop model yet
        print(f"skipping text -> icon: {err}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
