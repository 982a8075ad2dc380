"""Issue 5 end to end: every corpus input through the CLI (exit code, one line) and the app (AppTest).

The library-level behaviour of each refusal is tested in test_images, test_checkpoints and
test_loading; here the same inputs go through the two front ends as a user would give them:
- CLI: `main([...])`; errors exit 2 with exactly one `error: …` line, no traceback, nothing on
  stdout; accepted inputs exit 0 with their notes/warnings on stderr.
- App: one AppTest per family; after each input the app shows one st.error (or the analysis),
  raises nothing, keeps the previous analysis on screen, and a good input right after works.
  Custom model specs and checkpoints given at launch (`streamlit run app.py -- --model f.py:Net`)
  are tested by setting `sys.argv`: AppTest has no argument for script args, but it runs the
  script in this process and the app reads `sys.argv` on every run.
A checkpoint over the size limit is app-only (the CLI reads local files without a limit): it is
tested with `server.maxUploadSize` lowered to 1 MB, as an upload and as a launch argument.
"""

from __future__ import annotations

import csv
import io
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
import torch
import torch.nn as nn
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from corpus import (
    CHECKPOINTS, HOSTILE_CHECKPOINTS, HOSTILE_IMAGES, HOSTILE_SPECS, IMAGES, MARKER_NAME, SPECS, Case, PathCase,
    good_checkpoint, good_image, special_paths,
)
from wavevis.cli import main

APP = Path(__file__).resolve().parent.parent / "app.py"
SIZE = 64
CLI_CASES = [c for c in IMAGES + CHECKPOINTS + SPECS if c.max_bytes is None]


@pytest.mark.parametrize("case_id, load", [
    ("pickle-payload", pickle.loads),
    ("torch-zip-payload", lambda data: torch.load(io.BytesIO(data), weights_only=False)),
])
def test_corpus_payloads_are_live(case_id: str, load, tmp_path: Path) -> None:
    """An unsafe load does run the payloads, so 'the marker never exists' below proves something."""
    case = next(c for c in CHECKPOINTS if c.id == case_id)
    load(case.make(tmp_path))
    assert (tmp_path / MARKER_NAME).exists()


# -- CLI ---------------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def cli_argv(case: Case, path: Path, good: Path) -> list[str]:
    if case.family == "image":
        return ["stats", str(path), "--size", str(case.size)]
    if case.family == "checkpoint":
        return ["stats", str(good), "--size", str(SIZE), "--weights", str(path)]
    return ["stats", str(good), "--size", str(SIZE), "--model", f"{path}:{case.attr}"]


def user_modules(path: Path) -> list[object]:
    """Modules the loader imported from this model file (it keeps them in sys.modules)."""
    return [
        m for name, m in list(sys.modules.items())
        if name.startswith("wavevis_user_") and getattr(m, "__file__", None) == str(path.resolve())
    ]


def assert_no_hooks(model: nn.Module) -> None:
    for name, module in model.named_modules():
        assert not module._forward_hooks and not module._forward_pre_hooks, f"hook left on {name!r}"


@pytest.mark.parametrize("case", CLI_CASES, ids=[f"{c.family}-{c.id}" for c in CLI_CASES])
def test_cli(case: Case, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(good_image(SIZE, SIZE))
    path = case.write(tmp_path)
    code, out, err = run_cli(cli_argv(case, path, good))
    assert not (tmp_path / MARKER_NAME).exists(), "a pickled payload ran"
    assert "Traceback" not in err
    if case.outcome == "error":
        assert (code, out) == (2, ""), err
        assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
        for word in case.words:
            assert word in err, f"{word!r} not in {err!r}"
        if case.id == "forward-raises":
            (module,) = user_modules(path)
            assert module.INSTANCES, "the model was never built"
            for model in module.INSTANCES:
                assert_no_hooks(model)
            assert run_cli(["stats", str(good), "--size", str(SIZE)])[0] == 0  # the process is fine
        return
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and rows[0]["layer"] == "conv0"
    if case.input_size:
        assert (int(rows[0]["width"]), int(rows[0]["height"])) == case.input_size
    lines = err.splitlines()
    if case.family == "checkpoint":  # NaN/Inf: warned, still analysed
        assert lines and all(line.startswith("warning: ") for line in lines), err
        assert any("NaN" in line for line in lines)
        assert rows[1]["layer"] == "conv1_1" and rows[1]["mean"] == ""  # NaN maps, written blank
    else:
        assert all(line.startswith(f"note: {case.filename}: ") for line in lines), err
        assert bool(lines) == bool(case.words), err
        for word in case.words:
            assert word in err, f"{word!r} not in {err!r}"


def test_cli_max_side_downscales_size_zero_and_caps_size(tmp_path: Path) -> None:
    """`--size 0` on a huge photo is analysed at most --max-side per side, never at full size."""
    large = next(c for c in IMAGES if c.id == "large").write(tmp_path)
    code, out, err = run_cli(["stats", str(large), "--size", "0", "--max-side", "96"])
    assert code == 0, err
    row = next(csv.DictReader(io.StringIO(out)))
    assert (int(row["width"]), int(row["height"])) == (96, 77)
    assert err == "note: large.jpg: downscaled from 5000×4000 to 96×77 (limit 96 px per side)\n"
    code, out, err = run_cli(["stats", str(large), "--size", "4096"])
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: --size 4096 is over --max-side 2048") and "--max-side" in err


# -- CLI: issue 13's hostile inputs ----------------------------------------------------------------

HOSTILE = HOSTILE_IMAGES + HOSTILE_CHECKPOINTS + HOSTILE_SPECS
RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\r")  # what must never reach the terminal raw


@pytest.mark.parametrize("case", HOSTILE, ids=[f"{c.family}-{c.id}" for c in HOSTILE])
def test_cli_hostile(case: Case, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(good_image(SIZE, SIZE))
    path = case.write(tmp_path)
    code, out, err = run_cli(cli_argv(case, path, good))
    assert "Traceback" not in err and not any(c in err for c in RAW_CONTROLS), repr(err)
    for word in case.words:
        assert word in err, f"{word!r} not in {err!r}"
    if case.outcome == "error":
        assert (code, out) == (2, ""), err
        assert err.startswith("error: ") and err.count("\n") == 1 and err.endswith("\n"), err
        return
    assert code == 0, err
    assert next(csv.DictReader(io.StringIO(out)))["layer"] == "conv0"
    assert all(line.startswith(("note: ", "warning: ")) for line in err.splitlines()), err


def _special(kind: str) -> list[PathCase]:
    return list(special_paths(".png" if kind == "image" else ".pt", "x"))


@pytest.mark.parametrize("kind", ["image", "checkpoint"])
@pytest.mark.parametrize("case", _special("image"), ids=[c.id for c in _special("image")])
def test_cli_refuses_what_is_not_a_regular_file_before_reading_it(kind: str, case: PathCase, tmp_path: Path) -> None:
    """A FIFO without a writer would hang, /dev/zero would read forever, a 5 GB sparse file would be
    read whole: each is refused by what stat says, in one line naming the path."""
    case = next(c for c in _special(kind) if c.id == case.id)
    good = tmp_path / "good.png"
    good.write_bytes(good_image(SIZE, SIZE))
    path = case.make(tmp_path)
    argv = ["stats", str(path)] if kind == "image" else ["stats", str(good), "--weights", str(path)]
    code, out, err = run_cli([*argv, "--size", str(SIZE)])
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1, err
    words = case.words if (kind, case.id) != ("image", "directory") else ("folder.png holds no images",)
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"


# Peak memory of each refusal, measured in a fresh process: a refusal of what a file claims must not
# allocate it. VmHWM (peak RSS) is reset before each case through /proc/self/clear_refs.
_PEAK_SCRIPT = r"""
import json, sys
from wavevis import decode_image, load_model
from wavevis.errors import WavevisError

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024

for line in sys.stdin:
    kind, path = json.loads(line)
    open("/proc/self/clear_refs", "w").write("5")
    before = hwm()
    try:
        decode_image(path) if kind == "image" else load_model("wavevgg", weights=path)
        message = None
    except WavevisError as exc:
        message = str(exc)
    print(json.dumps([path, message, hwm() - before]), flush=True)
"""
PEAK_LIMIT = 64 * 2**20  # what a refusal may allocate above the process's footprint before it


@pytest.fixture(scope="module")
def refusal_peaks(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[str | None, int]]:
    import json
    import os
    import subprocess

    folder = tmp_path_factory.mktemp("hostile")
    jobs: dict[tuple[str, str], str] = {}
    for case in HOSTILE_CHECKPOINTS:
        jobs[("checkpoint", case.id)] = str(case.write(folder))
    for kind, suffix in (("image", ".png"), ("checkpoint", ".pt")):
        sub = folder / kind
        sub.mkdir()
        for path_case in special_paths(suffix, kind):
            jobs[(kind, path_case.id)] = str(path_case.make(sub))
    lines = "".join(json.dumps([kind, path]) + "\n" for (kind, _id), path in jobs.items())
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], input=lines, capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    results = {path: (message, peak) for path, message, peak in map(json.loads, done.stdout.splitlines())}
    return {key: results[path] for key, path in jobs.items()}


PEAK_CASES = [("checkpoint", c.id) for c in HOSTILE_CHECKPOINTS if c.outcome == "error"] + [
    (kind, c.id) for kind in ("image", "checkpoint") for c in _special(kind)
]


@pytest.mark.slow  # one fresh process for every case: ~5 s, most of it importing torch
@pytest.mark.parametrize("kind, case_id", PEAK_CASES, ids=[f"{k}-{i}" for k, i in PEAK_CASES])
def test_refusals_allocate_nothing_the_file_claims(refusal_peaks, kind: str, case_id: str) -> None:
    message, peak = refusal_peaks[(kind, case_id)]
    assert message is not None and "\n" not in message, message
    assert peak < PEAK_LIMIT, f"{kind} {case_id}: the refusal peaked {peak / 2**20:.0f} MB above the baseline"


# -- app ---------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """st.cache_* outlive AppTest instances in one process: start and end each test empty."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@contextmanager
def upload_limit_mb(limit: int) -> Iterator[None]:
    """Lower server.maxUploadSize for the runs inside (AppTest reads the process-wide config)."""
    before = st_config.get_option("server.maxUploadSize")
    st_config.set_option("server.maxUploadSize", limit)
    try:
        yield
    finally:
        st_config.set_option("server.maxUploadSize", before)


def start_app(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr(sys, "argv", [str(APP), *argv])
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["size"] = SIZE  # the first analysis is small too
    at.session_state["weights_source"] = "Random init"  # the posted wavevgg, whose checkpoints the cases upload
    return at.run()


def table(at: AppTest) -> pd.DataFrame | None:
    return at.dataframe[0].value if len(at.dataframe) else None


def assert_fine(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def input_errors(at: AppTest) -> list[str]:
    """The bad-input error lines: st.error at the top level of the page, above the tabs.

    Inside the tabs, st.error also shows diagnosis findings and failed checks: not input errors.
    """
    return [node.value for node in at.main.children.values() if getattr(node, "type", None) == "error"]


def assert_refused(at: AppTest, case: Case, shown: pd.DataFrame | None) -> None:
    """One st.error with the case's words; the analysis on screen is the one before."""
    assert_fine(at)
    errors = input_errors(at)
    assert len(errors) == 1, (case.id, errors)
    assert "\n" not in errors[0]
    for word in case.words:
        assert word in errors[0], (case.id, word, errors[0])
    if shown is None:
        assert table(at) is None
    else:
        pd.testing.assert_frame_equal(table(at), shown)
        assert any(c.value.startswith("Still showing the last good analysis") for c in at.caption)


def assert_analysed(at: AppTest) -> pd.DataFrame:
    assert_fine(at)
    assert not input_errors(at) and not at.sidebar.error, input_errors(at)
    shown = table(at)
    assert shown is not None and len(shown) > 0
    return shown


def test_app_images(tmp_path: Path, fresh_caches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    at = start_app([], monkeypatch)
    good = good_image(SIZE, SIZE)
    uploader = at.file_uploader(key="image")
    at = uploader.clear().upload("good.png", good, "image/png").run()
    good_table = assert_analysed(at)
    for case in IMAGES:
        at.sidebar.number_input(key="size").set_value(case.size)
        at = at.file_uploader(key="image").clear().upload(case.filename, case.make(tmp_path)).run()
        if case.outcome == "error":
            assert_refused(at, case, good_table)
        else:
            assert_analysed(at)
            notices = " | ".join(i.value for i in at.info)
            for word in case.words:
                assert word in notices, (case.id, word, notices)
            title = at.caption[0].value
            assert f"· {case.filename} (" in title, title
            if case.input_size:
                # The title names the analysed size after the file, then what was done to the image.
                assert f"· {case.filename} ({case.input_size[0]}×{case.input_size[1]})" in title, title
        # Recovery: the good image again, at the usual size, gives the same analysis as before.
        at.sidebar.number_input(key="size").set_value(SIZE)
        at = at.file_uploader(key="image").clear().upload("good.png", good, "image/png").run()
        pd.testing.assert_frame_equal(assert_analysed(at), good_table)


def test_app_checkpoints(tmp_path: Path, fresh_caches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    at = start_app([], monkeypatch)
    at = at.sidebar.radio(key="weights_source").set_value("Upload checkpoint").run()
    good = good_checkpoint()
    at = at.file_uploader(key="ckpt").upload("good.pt", good).run()
    good_table = assert_analysed(at)
    for case in CHECKPOINTS:
        data = case.make(tmp_path)
        limit = upload_limit_mb(case.max_bytes // 2**20) if case.max_bytes else upload_limit_mb(200)
        with limit:
            at = at.file_uploader(key="ckpt").clear().upload(case.filename, data).run()
        assert not (tmp_path / MARKER_NAME).exists(), f"{case.id}: a pickled payload ran"
        if case.outcome == "error":
            assert_refused(at, case, good_table)
        else:
            assert_analysed(at)
            warnings = " | ".join(w.value for w in at.sidebar.warning)
            assert case.filename in warnings and all(word in warnings for word in case.words), warnings
        if case.max_bytes:
            assert "server.maxUploadSize" in input_errors(at)[0]
        at = at.file_uploader(key="ckpt").clear().upload("good.pt", good).run()
        pd.testing.assert_frame_equal(assert_analysed(at), good_table)


def test_app_launch_args(tmp_path: Path, fresh_caches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = {case.id: case.write(tmp_path) for case in SPECS}
    specs = {case.id: f"{paths[case.id]}:{case.attr}" for case in SPECS}
    # Launched with a broken model: an error, nothing to keep yet; picking a built-in model works.
    at = start_app(["--model", specs[SPECS[0].id]], monkeypatch)
    assert_refused(at, SPECS[0], None)
    at = at.sidebar.selectbox(key="model").set_value("wavevgg").run()
    good_table = assert_analysed(at)
    for case in SPECS:
        monkeypatch.setattr(sys, "argv", [str(APP), "--model", specs[case.id]])
        at = at.run()  # as if relaunched with this spec: it joins the model menu
        pd.testing.assert_frame_equal(assert_analysed(at), good_table)
        at = at.sidebar.selectbox(key="model").set_value(specs[case.id]).run()
        assert_refused(at, case, good_table)
        if case.id == "forward-raises":
            modules = user_modules(paths[case.id])
            assert modules and all(m.INSTANCES for m in modules)
            for module in modules:
                for model in module.INSTANCES:
                    assert_no_hooks(model)
        at = at.sidebar.selectbox(key="model").set_value("wavevgg").run()
        pd.testing.assert_frame_equal(assert_analysed(at), good_table)
    # A checkpoint path over the app's limit, given at launch.
    big = tmp_path / "big.pt"
    big.write_bytes(good_checkpoint())
    monkeypatch.setattr(sys, "argv", [str(APP), "--weights", str(big)])
    with upload_limit_mb(1):
        at = at.sidebar.radio(key="weights_source").set_value("Upload checkpoint").run()
    over = next(c for c in CHECKPOINTS if c.max_bytes)
    assert_refused(at, over, good_table)
    assert "server.maxUploadSize" in input_errors(at)[0] and str(big) in input_errors(at)[0]
    at = at.run()  # the usual limit: the same launch checkpoint now loads
    assert_analysed(at)
