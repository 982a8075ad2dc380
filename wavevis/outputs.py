"""Output files of one run that appear together, and only if the whole run succeeds (`wavevis stats`)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TextIO

from .errors import OutputError, escape

__all__ = ["DeferredOutputs", "same_file"]

_SPOOL_IN_MEMORY = 1 << 24  # bytes of rows a stream output keeps in memory before spooling to disk
_TMP_SUFFIX = ".partial"
_TMP_RANDOM = 8  # characters tempfile adds


def _fix(option: str) -> str:
    return f"write elsewhere (or free disk space, if it is full) — {option} was left as it was"


class _Guarded:
    """A text stream whose write errors (a full disk) name the output they were meant for."""

    def __init__(self, stream: IO[str], option: str, path: str) -> None:
        self._stream, self._option, self._path = stream, option, path

    def _failed(self, exc: OSError) -> OutputError:
        return OutputError(
            f"{self._option} {escape(self._path)}: writing failed ({exc.strerror or exc}): {_fix(self._option)}"
        )

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None


@dataclass
class _File:
    """A regular file: rows go to a hidden temporary file beside it, renamed over it at the end."""

    tmp: IO[str]
    real: str  # the file itself (a symlink to it stays a symlink)
    mode: int
    path: str
    option: str


FIFO_READER_WAIT_S = 2.0  # how long an output FIFO may wait for its reader to open it


@dataclass
class _Stream:
    """Standard output, a FIFO, a device or a /proc file: rows are spooled, then written in one go."""

    spool: IO[str]
    out: TextIO | None  # standard output …
    fd: int | None  # … or a descriptor opened at the start
    path: str
    option: str


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_stream(path: str) -> bool:
    where = os.path.abspath(path)
    if where.startswith(("/dev/", "/proc/")):
        return True
    return os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode)


def _open_stream(path: str, option: str) -> int:
    """A write descriptor for a FIFO or device.

    Opening a FIFO for writing blocks until a reader opens it, possibly forever: it is opened
    without blocking, retried for FIFO_READER_WAIT_S (its reader may be starting beside this
    command, as in `… --out p & cat p`), then refused in one line.
    """
    shown = escape(path)
    fifo = os.path.exists(path) and stat.S_ISFIFO(os.stat(path).st_mode)
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOCTTY", 0) | (os.O_NONBLOCK if fifo else 0)
    deadline = time.monotonic() + FIFO_READER_WAIT_S
    while True:
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            if not (fifo and exc.errno == errno.ENXIO):
                raise OutputError(f"{option} {shown} cannot be written ({exc.strerror or exc}): write somewhere else") from None
            if time.monotonic() >= deadline:
                raise OutputError(f"{option} {shown} is a FIFO (named pipe) that nobody reads: start its reader "
                                  f"first (e.g. `cat {shown} &`) or write to a file") from None
            time.sleep(0.02)
            continue
        if fifo:
            os.set_blocking(fd, True)  # a reader is there: the rows are written at the end, waiting on it as a pipe does
        return fd


def _identity(path: str) -> tuple[object, ...]:
    """What makes two paths the same file: device and inode when it exists, else its real path."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
    except OSError:
        return ("path", real)
    return ("inode", info.st_dev, info.st_ino)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name one file (the same inode, through symlinks or hard links, or the
    same real path for files not yet made)."""
    return _identity(os.fspath(a)) == _identity(os.fspath(b))


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _tmp_prefix(name: str, folder: str) -> str:
    """".NAME." cut (on a character boundary) so the temporary name fits the file-name limit."""
    room = _name_max(folder) - 2 - _TMP_RANDOM - len(_TMP_SUFFIX)
    encoded = os.fsencode(name)
    if len(encoded) > room:  # a cut inside a UTF-8 sequence round-trips as surrogates: still the same bytes
        name = os.fsdecode(encoded[:room])
    return f".{name}."


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while outputs are published or removed (main thread): a signal
    then acts right after, never between two renames."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class DeferredOutputs:
    """The output files of one run, published together by `commit()` and otherwise left untouched.

    Each output is checked when opened, before any work, so an unwritable path (a folder, a
    missing folder, a read-only place), a path that is already another output of the run, or
    one of the run's `inputs` (an image, a checkpoint) is refused at once. Rows of a regular file
    go to a hidden temporary file beside it (its name cut to fit the file-name limit) that
    replaces it atomically at the end, keeping its permissions (or the umask's, for a new file)
    and any symlink to it. Standard output, FIFOs and devices get their rows spooled (memory up to
    16 MB, then a temporary file) and written at the end, before any file is replaced, so a
    failure there still leaves every file as it was. A run that fails, runs out of disk space or
    is interrupted leaves nothing behind: leaving the `with` block without `commit()` discards
    everything, and a write error names the output it was for.
    """

    def __init__(self, inputs: Iterable[tuple[str, str | os.PathLike]] = ()) -> None:
        """`inputs`: (how messages call it, path) of every file the run reads."""
        self._files: list[_File] = []
        self._streams: list[_Stream] = []
        self._taken: dict[tuple[object, ...], str] = {}
        self._inputs: dict[tuple[object, ...], str] = {}
        for said, path in inputs:
            self._inputs.setdefault(_identity(os.fspath(path)), said)

    def __enter__(self) -> DeferredOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def open(self, path: str | None, option: str, stdout: TextIO | None = None) -> TextIO:
        """A text stream for the output at `path` (None: `stdout`); `option` names it in errors.

        Raises:
            OutputError: the path is unusable, another output's, or an input's.
        """
        if path is None:
            return self._spool(None, stdout, "standard output", option)
        if not path:
            raise OutputError(f"{option} needs a file name")
        shown = escape(path)
        if os.path.isdir(path):
            raise OutputError(f"{option} {shown} is a folder: give a file name, e.g. {escape(os.path.join(path, 'stats.csv'))}")
        if _is_stream(path):
            return self._spool(_open_stream(path, option), None, path, option)
        identity = _identity(path)
        if identity in self._inputs:
            raise OutputError(
                f"{option} {shown} is the input {self._inputs[identity]}: writing it would replace that "
                "file; give another file name"
            )
        if identity in self._taken:
            raise OutputError(
                f"{option} {shown} is the same file as {self._taken[identity]}: one would overwrite the "
                "other; give each output its own file"
            )
        real = os.path.realpath(path)
        folder, name = os.path.split(real)
        if not os.path.isdir(folder):
            raise OutputError(f"{option} {shown} is in a folder that does not exist ({escape(folder)}): create it or write elsewhere")
        try:
            tmp = tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", newline="", dir=folder, prefix=_tmp_prefix(name, folder),
                suffix=_TMP_SUFFIX, delete=False)
        except OSError as exc:
            raise OutputError(f"{option} {shown} cannot be written ({exc.strerror or exc}): write somewhere else") from None
        mode = stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else 0o666 & ~_umask()
        self._files.append(_File(tmp, real, mode, path, option))
        self._taken[identity] = f"{option} {shown}"
        return _Guarded(tmp, option, path)  # type: ignore[return-value]

    def _spool(self, fd: int | None, out: TextIO | None, path: str, option: str) -> TextIO:
        spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", newline="")
        self._streams.append(_Stream(spool, out, fd, path, option))
        return _Guarded(spool, option, path)  # type: ignore[return-value]

    def commit(self) -> None:
        """Publish every output: streams first, then the files, each replaced in one rename.

        Raises:
            OutputError: an output could not be written (files not yet replaced stay as they were).
        """
        current: _File | _Stream | None = None
        try:
            with _signals_held():
                for current in self._files:  # flushing may fail (a full disk): before anything is published
                    current.tmp.close()
                    os.chmod(current.tmp.name, current.mode)
                for current in self._streams:
                    current.spool.seek(0)
                    if current.fd is None:
                        shutil.copyfileobj(current.spool, current.out)
                        current.out.flush()
                    else:
                        with open(current.fd, "w", encoding="utf-8", newline="", closefd=False) as out:
                            shutil.copyfileobj(current.spool, out)
                for current in self._files:
                    os.replace(current.tmp.name, current.real)
        except OSError as exc:
            raise OutputError(
                f"{current.option} {escape(current.path)}: writing failed ({exc.strerror or exc}): "
                f"{_fix(current.option)}"
            ) from None
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop whatever was not published: temporary files, spools and descriptors (idempotent;
        a close that fails, as on a full disk, still removes its file)."""
        with _signals_held():
            for f in self._files:
                with contextlib.suppress(OSError):
                    f.tmp.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f.tmp.name)
            for s in self._streams:
                with contextlib.suppress(OSError):
                    s.spool.close()
                if s.fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(s.fd)
            self._files, self._streams = [], []
