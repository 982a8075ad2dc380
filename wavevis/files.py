"""Reads of untrusted files: regular files only, refused by their size before reading, reads that stop at a limit."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from .errors import WavevisError, escape, one_line

__all__ = ["file_kind", "human_size", "read_limited", "read_path", "read_stream", "regular_file_size"]


def human_size(n: int) -> str:
    """A byte count as people read it: "812 bytes", "14.2 MB", "3.2 GB" (powers of 1000)."""
    if n < 1000:
        return f"{n} bytes"
    size = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} EB"


def file_kind(mode: int) -> str:
    """What a file of this `st_mode` is, in words: "a directory", "a FIFO (named pipe)", …"""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def _what_it_is(path: str, mode: int) -> str:
    """"a character device (a symlink to /dev/zero)" — the kind, and the target of a symlink."""
    kind = file_kind(mode)
    if os.path.islink(path):
        kind += f" (a symlink to {escape(os.path.realpath(path))})"
    return kind


def _too_large(label: str, size: int | None, limit: int, fix: str) -> str:
    said, limit_said = human_size(size) if size is not None else "", human_size(limit)
    if size is None:
        return f"{label} is larger than the {limit_said} limit: {fix}"
    if said == limit_said:
        said, limit_said = f"{size:,} bytes", f"{limit:,} bytes"
    return f"{label} is {said}, over the {limit_said} limit: {fix}"


def regular_file_size(path: str | os.PathLike, *, error: type[WavevisError], what: str) -> int:
    """The size of `path` if it is a regular file (symlinks followed); otherwise one refusal line
    naming the path and what it is.

    Nothing is opened: a FIFO without a writer, a device or a socket are refused by what `stat`
    says, before any read could hang or run forever.

    Args:
        path: the path (messages show it escaped).
        error: the WavevisError subclass to raise.
        what: what the file should be, for the fix ("an image file", "the checkpoint file").

    Raises:
        error: the path does not exist, cannot be examined, or is not a regular file.
    """
    path = os.fspath(path)
    shown = escape(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        dangling = " (a symlink whose target is missing)" if os.path.islink(path) else ""
        raise error(f"{shown} does not exist{dangling}: check the path and file name") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{shown} is a symlink loop: give {what} itself") from None
        if exc.errno == errno.ENOTDIR:
            raise error(f"{shown} does not exist (a part of its path is a file, not a folder): check the path") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise error(f"{shown[:80]}… is a name too long for this system: check the path") from None
        reason = exc.strerror or one_line(exc, with_type=False)
        raise error(f"{shown} cannot be examined ({reason}): check the path and its permissions") from None
    if not stat.S_ISREG(info.st_mode):
        fix = f"give {what} itself" if not stat.S_ISDIR(info.st_mode) else f"give {what} inside it"
        raise error(f"{shown} is {_what_it_is(path, info.st_mode)}, not a regular file: {fix}")
    return info.st_size


def read_path(
    path: str | os.PathLike, *, label: str, error: type[WavevisError], what: str, limit: int | None,
    fix: str = "use a smaller file", check_head: Callable[[bytes], None] | None = None,
) -> bytes:
    """All bytes of the regular file at `path`, refused by its size before reading.

    The type is checked with `stat` first (see `regular_file_size`); the file is then opened
    non-blocking, checked again on the open descriptor (the same regular file), and read up to
    `limit` + 1 bytes, so a file that grows while it is read is refused as well.

    Args:
        path: the path.
        label: how messages call the file (already escaped).
        error: the WavevisError subclass to raise.
        what: what the file should be, for the fix.
        limit: largest size accepted in bytes; None for no limit.
        fix: what to do about a file over the limit.
        check_head: called with the first 64 bytes before the rest is read; it raises to refuse
            a file by its content (e.g. a multi-GB file that is not a checkpoint at all).

    Raises:
        error: not a regular file, over the limit, or unreadable.
    """
    size = regular_file_size(path, error=error, what=what)
    if limit is not None and size > limit:
        raise error(_too_large(label, size, limit, fix))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        reason = exc.strerror or one_line(exc, with_type=False)
        raise error(f"{label} cannot be read ({reason}): check the file and its permissions") from None
    with open(fd, "rb", closefd=True) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):  # replaced between stat and open
            raise error(f"{label} is {file_kind(info.st_mode)}, not a regular file: give {what} itself")
        try:
            if check_head is not None:
                check_head(f.read(64))
                f.seek(0)
            data = f.read() if limit is None else f.read(limit + 1)
        except OSError as exc:
            reason = exc.strerror or one_line(exc, with_type=False)
            raise error(f"{label} cannot be read ({reason}): check the file") from None
    if limit is not None and len(data) > limit:
        raise error(_too_large(label, None, limit, fix))
    return data


def read_stream(
    source: BinaryIO, *, label: str, error: type[WavevisError], limit: int | None,
    fix: str = "use a smaller file", again: str = "give the file again",
) -> bytes:
    """The bytes left in a binary file object (e.g. an upload), reading at most `limit` + 1 of them.

    Raises:
        error: the stream fails, is in text mode, or holds more than `limit` bytes.
    """
    try:
        data = source.read() if limit is None else source.read(limit + 1)
    except Exception as exc:  # a broken upload or stream: say so in one line
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise error(f"{label} could not be read ({reason}): {again}") from None
    if isinstance(data, str):
        raise error(f"{label} is a text stream: open the file in binary mode ('rb')")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise error(f"{label}'s read() gave a {type(data).__name__}, not bytes: give a binary file object")
    data = bytes(data)
    if limit is not None and len(data) > limit:
        rest = _stream_left(source)
        raise error(_too_large(label, None if rest is None else len(data) + rest, limit, fix))
    return data


def read_limited(
    source: str | os.PathLike | bytes | bytearray | memoryview | BinaryIO, *, label: str,
    error: type[WavevisError], what: str, limit: int | None, fix: str = "use a smaller file",
    check_head: Callable[[bytes], None] | None = None,
) -> bytes:
    """The bytes of a path, a bytes-like object or a binary stream, within `limit` (None: no limit).

    Raises:
        error: as `read_path` / `read_stream`, or a bytes-like source over the limit.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if limit is not None and len(source) > limit:
            raise error(_too_large(label, len(source), limit, fix))
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return read_path(source, label=label, error=error, what=what, limit=limit, fix=fix, check_head=check_head)
    if not callable(getattr(source, "read", None)):
        raise error(f"cannot read {label} from a {type(source).__name__}: give a path, bytes or a binary file object")
    return read_stream(source, label=label, error=error, limit=limit, fix=fix)


def _stream_left(source: BinaryIO) -> int | None:
    """Bytes left in a seekable stream, None when it cannot tell."""
    try:
        if not source.seekable():
            return None
        here = source.tell()
        end = source.seek(0, os.SEEK_END)
        source.seek(here)
        return end - here
    except Exception:  # noqa: BLE001 - any failure means "cannot tell"
        return None
