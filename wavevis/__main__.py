"""`python -m wavevis …` runs the command line."""

from .console import run

raise SystemExit(run())
