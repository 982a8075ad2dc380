"""Warm start: import and run what the first page needs while the server starts and the browser loads it.

`streamlit run app.py` runs the script only once a browser session connects, so a cold start pays
all of its first-time costs after the page has loaded: the app's imports (torch, pandas, altair,
the page modules: ~3 s here), loading numba's compiled statistics pass, and oneDNN building its
convolution kernels for each new layer shape on the first forward passes (~2 s for the default
analysis and pool checks). The launcher (`python -m wavevis_app`, what `make run` starts) calls
`start(app_path)` before the server starts: one background thread runs app.py's imports (the file
loaded under another name, so its `main()` does not run), then the default model's analysis and
pool checks once on a blank image of the default size, so the first session finds them compiled.
Nothing it computes is kept: the session computes its own numbers.

The script's first run calls `wait()` before its own imports, so the two never import at the
same time (no thread can see a partly imported module). Without the launcher `wait()` returns at
once. Nothing here imports anything heavy at module level.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

__all__ = ["start", "wait"]

_thread: threading.Thread | None = None


def _warm(app_path: Path, first_passes: bool) -> None:
    try:
        spec = importlib.util.spec_from_file_location("_wavevis_warm_app", app_path)
        if spec is None or spec.loader is None:
            return
        spec.loader.exec_module(importlib.util.module_from_spec(spec))  # app.py's imports; main() is guarded
        if first_passes:
            _first_passes()
    except BaseException:  # noqa: BLE001 - best effort: the session's own run reports any problem in its words
        return


def _first_passes() -> None:
    """The default first page's forward passes once (the trained demo at the default size), results dropped."""
    import torch

    from wavevis import analyze
    from wavevis.checks import check_pools
    from wavevis.demo import load_demo

    from .sidebar import DEFAULT_SIZE

    model = load_demo()
    analyze(model, torch.zeros(1, 3, DEFAULT_SIZE, DEFAULT_SIZE))
    check_pools(model)


def start(app_path: Path, *, first_passes: bool = True) -> None:
    """Start the warm-up thread (once per process); `first_passes=False` for a launch model or checkpoint
    (the first page is not the demo's)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_warm, args=(Path(app_path), first_passes), name="wavevis-warm-start", daemon=True)
        _thread.start()


def wait() -> None:
    """Return once the warm-up thread (if any) has finished; the script's imports follow it."""
    if _thread is not None and _thread is not threading.current_thread():
        _thread.join()
