"""Output files of one run that appear together, and only if the whole run succeeds (`wavevis stats`)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from typing import IO, TextIO

from .errors import WavevisError

__all__ = ["DeferredOutputs"]

_SPOOL_IN_MEMORY = 1 << 24  # bytes of rows a stream output keeps in memory before spooling to disk


@dataclass
class _File:
    """A regular file: rows go to a hidden temporary file beside it, renamed over it at the end."""

    tmp: IO[str]
    real: str  # the file itself (a symlink to it stays a symlink)
    mode: int
    path: str
    option: str


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


class DeferredOutputs:
    """The output files of one run, published together by `commit()` and otherwise left untouched.

    Each output is checked when opened, before any work, so an unwritable path (a folder, a
    missing folder, a read-only place) is refused at once. Rows of a regular file go to a hidden
    temporary file beside it that replaces it atomically at the end, keeping its permissions
    (or the umask's, for a new file) and any symlink to it. Standard output, FIFOs and devices
    get their rows spooled (memory up to 16 MB, then a temporary file) and written at the end,
    before any file is replaced, so a failure there still leaves every file as it was. A run
    that fails or is interrupted leaves nothing behind: leaving the `with` block without
    `commit()` discards everything.
    """

    def __init__(self) -> None:
        self._files: list[_File] = []
        self._streams: list[_Stream] = []

    def __enter__(self) -> DeferredOutputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def open(self, path: str | None, option: str, stdout: TextIO | None = None) -> TextIO:
        """A text stream for the output at `path` (None: `stdout`); `option` names it in errors."""
        if path is None:
            return self._spool(None, stdout, "standard output", option)
        if not path:
            raise WavevisError(f"{option} needs a file name")
        if os.path.isdir(path):
            raise WavevisError(f"{option} {path} is a folder: give a file name, e.g. {os.path.join(path, 'stats.csv')}")
        if _is_stream(path):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            except OSError as exc:
                raise WavevisError(f"{option} {path} cannot be written ({exc.strerror or exc}): write somewhere else") from None
            return self._spool(fd, None, path, option)
        real = os.path.realpath(path)
        folder, name = os.path.split(real)
        if not os.path.isdir(folder):
            raise WavevisError(f"{option} {path} is in a folder that does not exist ({folder}): create it or write elsewhere")
        try:
            tmp = tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", newline="", dir=folder, prefix=f".{name}.", suffix=".partial", delete=False)
        except OSError as exc:
            raise WavevisError(f"{option} {path} cannot be written ({exc.strerror or exc}): write somewhere else") from None
        mode = stat.S_IMODE(os.stat(real).st_mode) if os.path.exists(real) else 0o666 & ~_umask()
        self._files.append(_File(tmp, real, mode, path, option))
        return tmp

    def _spool(self, fd: int | None, out: TextIO | None, path: str, option: str) -> TextIO:
        spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY, mode="w+", encoding="utf-8", newline="")
        self._streams.append(_Stream(spool, out, fd, path, option))
        return spool

    def commit(self) -> None:
        """Publish every output: streams first, then the files, each replaced in one rename.

        Raises:
            WavevisError: an output could not be written (files not yet replaced stay as they were).
        """
        current: _File | _Stream | None = None
        try:
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
            raise WavevisError(
                f"{current.option} {current.path}: writing failed ({exc.strerror or exc}): "
                "write elsewhere (or free disk space, if it is full)"
            ) from None
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop whatever was not published: temporary files, spools and descriptors (idempotent)."""
        for f in self._files:
            f.tmp.close()
            if os.path.exists(f.tmp.name):
                os.unlink(f.tmp.name)
        for s in self._streams:
            s.spool.close()
            if s.fd is not None:
                os.close(s.fd)
        self._files, self._streams = [], []
