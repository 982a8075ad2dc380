"""The app's launch options and checkpoint size policy, without Streamlit (wavevis_app.launch)."""

from __future__ import annotations

import importlib
import os
import sys

import pytest

from wavevis.errors import CheckpointError
from wavevis_app.launch import LaunchOptions, check_checkpoint_size, checkpoint_size, file_stamp, parse_launch


def test_launch_module_imports_without_streamlit(monkeypatch):
    """A fresh import with streamlit unimportable works: the helpers need no running app."""
    monkeypatch.setitem(sys.modules, "streamlit", None)  # `import streamlit` now raises ImportError
    monkeypatch.delitem(sys.modules, "wavevis_app.launch")
    module = importlib.import_module("wavevis_app.launch")
    assert module.parse_launch(["--model", "n.py:N"]) == module.LaunchOptions("n.py:N")


@pytest.mark.parametrize("argv, expected", [
    ([], LaunchOptions()),
    (["--model", "net.py:Net"], LaunchOptions("net.py:Net", None)),
    (["--weights", "ckpt.pt", "--model", "net.py:Net"], LaunchOptions("net.py:Net", "ckpt.pt")),
    (["--model=pkg.mod:make", "--other", "x", "stray"], LaunchOptions("pkg.mod:make", None)),  # unknown ones ignored
    (["--model", "n.py:N", "--pool-layer", "down1", "--pool-layer", "down2"],
     LaunchOptions("n.py:N", pool_layers=("down1", "down2"))),
])
def test_parse_launch(argv, expected):
    assert parse_launch(argv) == expected


@pytest.mark.parametrize("argv, option", [(["--model"], "--model"), (["--model", "n.py:N", "--weights"], "--weights")])
def test_parse_launch_option_without_value_is_one_line(argv, option):
    with pytest.raises(ValueError, match=f"argument {option}: expected one argument") as info:
        parse_launch(argv)
    assert "\n" not in str(info.value)


def test_pool_layers_need_and_belong_to_the_launch_model():
    with pytest.raises(ValueError, match="--pool-layer names layers of the launch model: give --model too") as info:
        parse_launch(["--pool-layer", "down1"])
    assert "\n" not in str(info.value)
    launch = LaunchOptions("n.py:Net", pool_layers=("down1",))
    assert launch.pools_for("n.py:Net") == ("down1",) and launch.pools_for("wavevgg") == ()


@pytest.mark.parametrize("launch, model, expected", [
    (LaunchOptions(None, "w.pt"), "wavevgg", "w.pt"),           # weights for the default model
    (LaunchOptions(None, "w.pt"), "n.py:Net", None),
    (LaunchOptions("n.py:Net", "w.pt"), "n.py:Net", "w.pt"),    # weights for the launch model
    (LaunchOptions("n.py:Net", "w.pt"), "wavevgg", None),       # not for a built-in picked later
    (LaunchOptions("n.py:Net", None), "n.py:Net", None),
])
def test_launch_weights_belong_to_their_model(launch, model, expected):
    assert launch.weights_for(model, "wavevgg") == expected


def test_checkpoint_size_of_bytes_path_and_nothing(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"x" * 1234)
    assert checkpoint_size(b"x" * 10) == 10
    assert checkpoint_size(str(path)) == 1234
    assert checkpoint_size(str(tmp_path / "missing.pt")) is None
    assert checkpoint_size(str(tmp_path)) is None  # a folder is no checkpoint file
    assert checkpoint_size(None) is None


def test_checkpoint_at_the_limit_passes_one_byte_over_is_refused(tmp_path):
    limit = 2 * 2**20
    check_checkpoint_size("ok.pt", b"\0" * limit, limit)
    path = tmp_path / "big.pt"
    path.write_bytes(b"\0" * (limit + 1))
    with pytest.raises(CheckpointError) as info:
        check_checkpoint_size(str(path), str(path), limit)
    assert str(info.value) == (
        f"{path} is 2.0 MB, over this app's 2 MB upload limit: use a smaller checkpoint, "
        "or raise server.maxUploadSize in .streamlit/config.toml"
    )
    with pytest.raises(CheckpointError, match=r"^checkpoint is 3\.5 MB, over this app's 1 MB upload limit"):
        check_checkpoint_size(None, b"\0" * (7 * 2**19), 2**20)


def test_missing_checkpoint_path_is_left_to_the_loader(tmp_path):
    check_checkpoint_size("gone.pt", str(tmp_path / "gone.pt"), 1)
    check_checkpoint_size(None, None, 0)


def test_file_stamp_changes_with_the_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"one")
    first = file_stamp(str(path))
    assert first.startswith(f"{path}:3:")
    path.write_bytes(b"three")
    os.utime(path, ns=(1, 10**18))
    assert file_stamp(str(path)) == f"{path}:5:{10**18}"
    assert file_stamp(str(tmp_path / "missing.pt")) == str(tmp_path / "missing.pt")


def test_allow_code_is_off_unless_asked_for():
    assert parse_launch([]).allow_code is False
    assert parse_launch(["--model", "n.py:N"]).allow_code is False
    assert parse_launch(["--allow-code"]) == LaunchOptions(None, None, True)


def test_make_run_passes_its_args_to_the_app():
    """`make run ARGS="…"` ends in `streamlit run app.py -- …` (a dry run: nothing is installed or started)."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parent.parent

    def streamlit_line(*args: str) -> str:
        out = subprocess.run(["make", "-n", "-s", "-C", str(root), "run", *args], capture_output=True, text=True,
                             check=True).stdout
        (line,) = [l for l in out.splitlines() if "streamlit run" in l]
        return line

    assert streamlit_line('ARGS=--model net.py:Net --weights w.pt --allow-code').endswith(
        "-m streamlit run app.py -- --model net.py:Net --weights w.pt --allow-code")
    assert streamlit_line().endswith("-m streamlit run app.py")


def test_the_app_asks_openmp_for_sleeping_threads_before_torch_loads():
    """A fresh interpreter that imports the app's package first gets OMP_WAIT_POLICY=PASSIVE (read by
    OpenMP when torch loads); a policy the user set is kept."""
    import subprocess

    code = ("import os, sys; import wavevis_app; assert 'torch' not in sys.modules; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = lambda extra: subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True,  # noqa: E731
                                       text=True, check=True).stdout.strip()
    assert run({}) == "PASSIVE"
    assert run({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
