"""Run under torchrun by tests/test_distributed.py: several `wavevis stats` commands in one process group.

    torchrun --standalone --nproc-per-node 2 tests/torchrun_driver.py SCENARIOS.json RESULTS_DIR

SCENARIOS.json maps a name to an argv; each rank writes RESULTS_DIR/rank<R>.json with every
scenario's exit code, stdout and stderr. One group for all (the CLI joins an existing group).
The scenario named `groups` runs `distributed.merge_groups` on per-group summaries instead.
"""

import io
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import wavevis
from wavevis.distributed import Cluster, merge_groups
from wavevis.cli import main

# The `groups` scenario: image i of GROUPED goes to group GROUPED[i]; rank 0 takes images 0-1
# (group a only), rank 1 images 2-4, so rank 0 has no summary of group b.
GROUPED = ["a", "a", "b", "a", "b"]


def grouped_images(indices):
    """(group, (1, 3, 12, 12) input) of each image, seeded by its index alone."""
    return [(GROUPED[i], torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(i))) for i in indices]


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()


def groups_scenario(rank: int, world: int) -> dict:
    model = tiny_model()
    summaries = {}
    for group, x in grouped_images([0, 1] if rank == 0 else [2, 3, 4]):
        summaries.setdefault(group, wavevis.Summary()).add(wavevis.analyze(model, x))
    merged = merge_groups(summaries, Cluster(rank, world, torch.device("cpu")))
    return {name: {"images": s.images, "rows": s.rows(), "channels": s.channel_rows()} for name, s in merged.items()}


def run() -> None:
    scenarios = json.loads(Path(sys.argv[1]).read_text())
    results = Path(sys.argv[2])
    dist.init_process_group("gloo")
    try:
        out = {}
        for name, argv in scenarios.items():
            if name == "groups":
                out[name] = groups_scenario(dist.get_rank(), dist.get_world_size())
                continue
            stdout, stderr = io.StringIO(), io.StringIO()
            code = main(argv, stdout=stdout, stderr=stderr)
            out[name] = {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
        results.mkdir(exist_ok=True)
        (results / f"rank{os.environ['RANK']}.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run()
