"""`python -m gfx` runs the CLI."""

from gfx.cli import main

if __name__ == "__main__":
    main()
