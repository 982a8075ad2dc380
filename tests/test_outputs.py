"""Output files appear together and only on success; unwritable paths are refused before any work."""

import io
import re
import os
import threading

import pytest

from wavevis.errors import WavevisError
from wavevis import outputs as outputs_module
from wavevis.errors import OutputError
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


def test_a_fifo_nobody_reads_is_refused_not_waited_on(tmp_path, monkeypatch):
    """Opening a FIFO for writing blocks until a reader comes: without one, one line after a short wait."""
    monkeypatch.setattr(outputs_module, "FIFO_READER_WAIT_S", 0.1)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "kept.csv").write_text("before\n")
    with DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / "kept.csv"), "--json").write("new\n")
        with pytest.raises(OutputError) as caught:
            outputs.open(str(fifo), "--out")
    text = str(caught.value)
    assert text.startswith("--out ") and "FIFO (named pipe) that nobody reads" in text and "\n" not in text
    assert (tmp_path / "kept.csv").read_text() == "before\n"  # nothing published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv", "pipe"]  # no temporary left


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


# -- issue 13: collisions, long names, full disks ------------------------------------------------------


from wavevis.outputs import same_file  # noqa: E402


@pytest.mark.parametrize("first, second, words", [
    ("--out", "--per-channel", "--per-channel {x} is the same file as --out {x}"),
    ("--out", "--json", "--json {x} is the same file as --out {x}"),
    ("--per-channel", "--json", "--json {x} is the same file as --per-channel {x}"),
])
def test_two_outputs_on_one_file_are_refused(tmp_path, first, second, words):
    x = tmp_path / "x.csv"
    with DeferredOutputs() as outputs:
        outputs.open(str(x), first)
        with pytest.raises(OutputError, match=re.escape(words.format(x=x))):
            outputs.open(str(x), second)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink", "dotted"])
def test_an_output_that_is_an_input_is_refused_however_it_is_spelled(tmp_path, alias):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg bytes")
    target = {
        "same": lambda: photo,
        "symlink": lambda: (tmp_path / "link.csv").symlink_to(photo) or tmp_path / "link.csv",
        "hardlink": lambda: os.link(photo, tmp_path / "hard.csv") or tmp_path / "hard.csv",
        "dotted": lambda: tmp_path / "." / ".." / tmp_path.name / "photo.jpg",
    }[alias]()
    with DeferredOutputs([("photo.jpg", photo)]) as outputs:
        with pytest.raises(OutputError, match=r"is the input photo\.jpg: writing it would replace that file"):
            outputs.open(str(target), "--out")
    assert photo.read_bytes() == b"jpeg bytes"


def test_same_file_follows_links_and_compares_new_paths_by_where_they_would_be(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert same_file(tmp_path / "a", tmp_path / "b")
    assert same_file(tmp_path / "new.csv", tmp_path / "sub" / ".." / "new.csv")
    assert not same_file(tmp_path / "a", tmp_path / "new.csv")


@pytest.mark.parametrize("length", [250, 255])
def test_a_legal_long_output_name_works_and_leaves_no_temporary(tmp_path, length):
    name = "n" * (length - 4) + ".csv"
    with DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / name), "--out").write("a,b\n")
        temporaries = [p.name for p in tmp_path.iterdir()]
        assert len(temporaries) == 1 and len(temporaries[0].encode()) <= 255
        outputs.commit()
    assert [p.name for p in tmp_path.iterdir()] == [name] and (tmp_path / name).read_text() == "a,b\n"


def test_a_long_multibyte_name_is_cut_on_bytes_and_still_replaced(tmp_path):
    name = "é" * 125 + ".csv"  # 254 bytes in UTF-8
    with DeferredOutputs() as outputs:
        outputs.open(str(tmp_path / name), "--out").write("x\n")
        outputs.commit()
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.fixture
def small_disk(tmp_path):
    """A 64 kB tmpfs (root only); skipped where mounting is not allowed."""
    import subprocess

    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_names_the_output_and_leaves_no_temporary(small_disk):
    old = small_disk / "layers.csv"
    old.write_text("before\n")
    with pytest.raises(OutputError) as info, DeferredOutputs() as outputs:
        stream = outputs.open(str(old), "--out")
        for _ in range(200):
            stream.write("x" * 1000 + "\n")  # 200 kB: more than the disk holds
        outputs.commit()
    message = str(info.value)
    assert message.startswith(f"--out {old}: writing failed (No space left on device)"), message
    assert "\n" not in message and "free disk space" in message
    assert sorted(p.name for p in small_disk.iterdir()) == ["layers.csv"] and old.read_text() == "before\n"


class _FullDisk(io.StringIO):
    """A file object on a full disk: writes are buffered, the flush on close fails."""

    def __init__(self, real):
        super().__init__()
        self.real, self.name = real, real.name

    def write(self, text):
        raise OSError(28, "No space left on device")

    def close(self):
        self.real.close()
        raise OSError(28, "No space left on device")


def test_a_failing_write_and_a_failing_close_still_remove_the_temporary(tmp_path, monkeypatch):
    import tempfile

    made = []
    real_named = tempfile.NamedTemporaryFile

    def full(*args, **kwargs):
        made.append(_FullDisk(real_named(*args, **kwargs)))
        return made[-1]

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", full)
    with pytest.raises(OutputError, match=r"^--json .*x\.json: writing failed \(No space left on device\)"):
        with DeferredOutputs() as outputs:
            outputs.open(str(tmp_path / "x.json"), "--json").write("[]")
    assert made and list(tmp_path.iterdir()) == []
