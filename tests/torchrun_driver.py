"""Run under torchrun by tests/test_distributed.py: several `wavevis stats` commands in one process group.

    torchrun --standalone --nproc-per-node 2 tests/torchrun_driver.py SCENARIOS.json RESULTS_DIR

SCENARIOS.json maps a name to an argv; each rank writes RESULTS_DIR/rank<R>.json with every
scenario's exit code, stdout and stderr. One group for all (the CLI joins an existing group).
"""

import io
import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

from wavevis.cli import main


def run() -> None:
    scenarios = json.loads(Path(sys.argv[1]).read_text())
    results = Path(sys.argv[2])
    dist.init_process_group("gloo")
    try:
        out = {}
        for name, argv in scenarios.items():
            stdout, stderr = io.StringIO(), io.StringIO()
            code = main(argv, stdout=stdout, stderr=stderr)
            out[name] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
        results.mkdir(exist_ok=True)
        (results / f"rank{os.environ['RANK']}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run()
