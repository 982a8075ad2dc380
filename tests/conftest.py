"""Shared test setup. Test modules import their helpers (reference, posted, corpus) as top-level
modules: pytest's default `prepend` import mode puts this folder on sys.path for them."""

import os

import torch

torch.set_num_threads(2)


def pytest_sessionstart(session):
    """In CI (WAVEVIS_REQUIRE_BROWSER=1) the real-browser tests must run, never skip."""
    if os.environ.get("WAVEVIS_REQUIRE_BROWSER") and not os.path.exists("/usr/bin/chromium"):
        raise RuntimeError("WAVEVIS_REQUIRE_BROWSER is set but /usr/bin/chromium is missing")
