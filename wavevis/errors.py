"""Error types wavevis raises for bad input; each message is one line naming the problem and the fix."""

from __future__ import annotations

import re

__all__ = [
    "AnalysisError", "CheckpointError", "ImageError", "ModelSpecError", "OutputError", "Terminated",
    "WavevisError", "escape", "one_line", "reraise_interrupts",
]


class WavevisError(Exception):
    """Base of every error wavevis raises on purpose (bad files, bad specs, failing forwards)."""


class ImageError(WavevisError):
    """An image could not be read or is unsuitable (corrupt, too large, too small)."""


class CheckpointError(WavevisError):
    """A checkpoint could not be loaded safely or does not fit the model."""


class ModelSpecError(WavevisError):
    """A model spec (name, module:callable, file.py:Name) does not give a usable nn.Module."""


class AnalysisError(WavevisError):
    """The model's forward pass failed on this input."""


class OutputError(WavevisError):
    """Output paths that collide with each other or with an input, or that cannot be written."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (the CLI turns it into this): it unwinds like Ctrl-C, removing temporaries."""


def reraise_interrupts(exc: BaseException) -> None:
    """Re-raise Ctrl-C and SIGTERM; return for anything else a user's code raised (SystemExit too).

    Used as `except BaseException as exc: reraise_interrupts(exc); …report exc in one line…`
    around calls into a user's model, whose `sys.exit()` must not end the CLI or the app silently.
    """
    if isinstance(exc, KeyboardInterrupt):
        raise exc


def _escaped(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if char == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape(text: object) -> str:
    """`text` with every character a terminal could act on written as an escape, for one-line messages.

    Newlines, carriage returns, ESC and the other C0/C1 control characters, DEL, format characters
    (bidirectional overrides, zero-width joiners), line/paragraph separators and the lone surrogates
    that stand for undecodable bytes in file names become `\\n`, `\\x1b`, `\\u202e`, …; printable text
    (any script) and plain spaces stay as they are. Idempotent on its own output. Every name from a
    file, a folder listing, a checkpoint key or a user's exception goes through it before it joins a
    message.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escaped(c) for c in text)


def one_line(
    exc: BaseException, *, with_type: bool = True, all_lines: bool = False,
    first_sentence: bool = False, limit: int | None = None,
) -> str:
    """An exception's message as one line, to quote inside a wavevis error message.

    Args:
        exc: the exception.
        with_type: prefix the exception's type ("ValueError: bad value"), without a trailing ":"
            (an empty message gives the type alone); otherwise an empty message gives the type.
        all_lines: join every line of the message with single spaces; otherwise keep the first line.
        first_sentence: keep only the first sentence, without its final ".".
        limit: longest result; longer text is cut and ends in "…". None for no limit.

    Returns:
        The line, e.g. "ValueError: bad value" or (with_type=False) "bad value".
    """
    name = type(exc).__name__
    text = str(exc).strip()
    if all_lines:
        text = " ".join(text.split())
    else:
        text = text.splitlines()[0].strip() if text else ""
    if with_type:
        text = f"{name}: {text}".rstrip(": ")
    else:
        text = text or name
    if first_sentence:
        text = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".")
    text = escape(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
