"""`python -m bench [NAME ...]` runs the benchmarks (every module in bench/ with a `main()`), or the named ones."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__")
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"\n== bench/{name}.py ==", flush=True)
        try:
            module.main()
        except Exception as err:  # one broken bench must not hide the others
            print(f"bench/{name}.py failed: {type(err).__name__}: {err}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
