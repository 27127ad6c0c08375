"""Run the benchmarks: every module in bench/ with a `main()`, or the named ones.

    python -m bench                                  # all of them, default settings
    python -m bench decoding iconshop                # these two
    python -m bench decoding -- --model models/iconshop-mini --tokens 320   # flags after -- go to each named bench
"""

import importlib
import inspect
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names, flags = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    if flags and not names:
        print("name the benches the flags after -- are for, e.g. python -m bench decoding -- --tokens 320")
        return 2
    names = names or sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "__main__")
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"\n== {' '.join([f'bench/{name}.py', *flags])} ==", flush=True)
        try:
            takes_argv = "argv" in inspect.signature(module.main).parameters
            module.main(flags) if takes_argv else module.main()
        except (Exception, SystemExit) as err:  # one broken bench (or a bad flag) must not hide the others
            print(f"bench/{name}.py failed: {type(err).__name__}: {err}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
