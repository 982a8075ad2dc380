"""Output files appear together and only on success; unwritable paths are refused before any work."""

import io
import os
import threading

import pytest

from wavevis.errors import WavevisError
from wavevis.outputs import DeferredOutputs


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_files_appear_only_at_commit_with_the_umask_or_their_own_mode(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("before\n")
    old.chmod(0o640)
    with DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / "new.csv"), "--out").write("a,b\n")
        outputs.open(str(old), "--json").write("after\n")
        assert not (tmp_path / "new.csv").exists() and old.read_text() == "before\n"
        outputs.commit()
    assert (tmp_path / "new.csv").read_text() == "a,b\n" and old.read_text() == "after\n"
    assert (tmp_path / "new.csv").stat().st_mode & 0o777 == 0o666 & ~umask()
    assert old.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.csv", "old.csv"]  # no temporary left


def test_a_failed_run_leaves_every_output_as_it_was(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("before\n")
    stdout = io.StringIO()
    with pytest.raises(RuntimeError), DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / "new.csv"), "--out").write("rows\n")
        outputs.open(str(old), "--json").write("rows\n")
        outputs.open(None, "--out", stdout).write("rows\n")
        raise RuntimeError("image 900 is corrupt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"] and old.read_text() == "before\n"
    assert stdout.getvalue() == ""


def test_symlinks_stay_links_and_dangling_ones_get_their_file(tmp_path):
    (tmp_path / "real.csv").write_text("x\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "target.csv")
    with DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / "link.csv"), "--out").write("through the link\n")
        outputs.open(str(tmp_path / "dangling.csv"), "--json").write("made\n")
        outputs.commit()
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_text() == "through the link\n"
    assert (tmp_path / "dangling.csv").is_symlink() and (tmp_path / "target.csv").read_text() == "made\n"


def test_a_fifo_is_written_as_a_stream(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, encoding="utf-8").read()))
    reader.start()
    with DeferredOutputs() as outputs:
        outputs.open(str(fifo), "--out").write("streamed\n")
        outputs.commit()
    reader.join(timeout=30)
    assert got == ["streamed\n"] and fifo.is_fifo()


@pytest.mark.parametrize("make, words", [
    (lambda p: (p / "adir").mkdir() or p / "adir", "is a folder: give a file name"),
    (lambda p: p / "missing" / "x.csv", "is in a folder that does not exist"),
    (lambda p: "", "needs a file name"),
])
def test_unusable_paths_are_refused_when_opened(tmp_path, make, words):
    target = make(tmp_path)
    with DeferredOutputs() as outputs, pytest.raises(WavevisError, match=words) as info:
        outputs.open(str(target), "--out")
    assert str(info.value).startswith(f"--out {target}".rstrip())


def test_a_stream_that_fails_at_the_end_keeps_the_files_unreplaced(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("before\n")

    class Broken(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    with DeferredOutputs() as outputs:
        outputs.open(str(old), "--per-channel").write("after\n")
        outputs.open(None, "--out", Broken()).write("rows\n")
        with pytest.raises(WavevisError, match="--out standard output: writing failed"):
            outputs.commit()
    assert old.read_text() == "before\n" and sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]
