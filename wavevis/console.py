"""The `wavevis` command's entry point: Ctrl-C at any moment, start-up included, ends in one line."""

from __future__ import annotations

import sys

__all__ = ["run"]


def run() -> int:
    """Import the command line (torch takes a few seconds to import) and run it; 130 on Ctrl-C."""
    if sys.argv[1:] == ["--version"]:  # answered without importing torch
        from . import __version__

        sys.stdout.write(f"wavevis {__version__}\n")
        return 0
    try:
        from .cli import main

        return main()
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
