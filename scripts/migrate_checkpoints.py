"""Rewrite checkpoint directories saved before model_index.json into the current layout, in place.

    .venv/bin/python scripts/migrate_checkpoints.py models/*/                 # the shipped ones
    .venv/bin/python scripts/migrate_checkpoints.py old/icon-clip --class IconCLIP

Files are moved, never re-saved (`gfx.checkpoint.migrate`), and the script checks it: every tensor of
every model.safetensors is compared before and after (names, dtypes, values), then the directory is
loaded by the class it now names. Old directories also load without migrating.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from gfx.checkpoint import WEIGHTS_NAME, load_pretrained, migrate


def tensor_digests(directory: Path) -> list[str]:
    """One digest per weight file under `directory` over its tensors' names, dtypes, shapes and values."""
    digests = []
    for path in directory.rglob(WEIGHTS_NAME):
        h = hashlib.sha256()
        for name, tensor in sorted(load_file(path).items()):
            h.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
            h.update(tensor.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
        digests.append(h.hexdigest())
    return sorted(digests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--class", dest="class_name", help="the class a directory holds (default: guessed)")
    args = parser.parse_args()
    for directory in args.directories:
        before = tensor_digests(directory)
        migrate(directory, args.class_name)
        if tensor_digests(directory) != before:
            print(f"{directory}: weights changed while migrating", file=sys.stderr)
            return 1
        print(
            f"{directory}: {type(load_pretrained(directory)).__name__}, {len(before)} weight files unchanged"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
