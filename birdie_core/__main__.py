"""``python -m birdie_core``: the ``birdie`` command for environments whose scripts directory is not on PATH."""

from birdie_core.cli import main

if __name__ == "__main__":
    main()
