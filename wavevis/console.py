"""The `wavevis` command's entry point: Ctrl-C at any moment, start-up included, ends in one line."""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["run"]

_INTERRUPTED = "error: interrupted\n"


def _exit_during_import(signum: int, frame: object) -> None:
    """SIGINT while the command line is still importing: nothing is computed or written yet, so end now.

    Raising KeyboardInterrupt inside an import can leave a module half-initialised (numpy loses
    attributes) and the next access fails with an unrelated traceback, so this exits at once.
    """
    os.write(2, _INTERRUPTED.encode())
    os._exit(130)


def run() -> int:
    """Import the command line (torch takes a few seconds to import) and run it; 130 on Ctrl-C."""
    if sys.argv[1:] == ["--version"]:  # answered without importing torch
        from . import __version__

        sys.stdout.write(f"wavevis {__version__}\n")
        return 0
    previous = signal.getsignal(signal.SIGINT)
    importing = previous is signal.default_int_handler  # keep a parent's SIG_IGN or custom handler
    if importing:
        signal.signal(signal.SIGINT, _exit_during_import)
    try:
        try:
            from .cli import main
        finally:
            if importing:
                signal.signal(signal.SIGINT, previous)
        return main()
    except KeyboardInterrupt:
        sys.stderr.write(_INTERRUPTED)
        return 130
