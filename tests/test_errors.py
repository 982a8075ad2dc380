"""wavevis.errors.one_line: an exception as the one line that wavevis's error messages quote."""

from __future__ import annotations

import pytest

from wavevis.errors import escape, one_line

LONG = "x" * 200


@pytest.mark.parametrize("exc, kwargs, expected", [
    # With the type (capture, diagnose, loading): the first line, no trailing ":".
    (ValueError("bad value\nmore detail"), {}, "ValueError: bad value"),
    (RuntimeError("Error(s) in loading state_dict for Net:\n\tMissing key(s)"), {},
     "RuntimeError: Error(s) in loading state_dict for Net"),
    (ValueError(""), {}, "ValueError"),
    (KeyError("k"), {}, "KeyError: 'k'"),
    # The first sentence, no type, at most 160 characters (checkpoints).
    (OSError("disk gone. Try again.\nx"), {"with_type": False, "first_sentence": True}, "disk gone"),
    (OSError(""), {"with_type": False, "first_sentence": True}, "OSError"),
    (OSError(LONG), {"with_type": False, "first_sentence": True, "limit": 160}, "x" * 159 + "…"),
    # Every line joined, no type, at most 120 characters (images).
    (OSError("broken\n  header  data"), {"with_type": False, "all_lines": True}, "broken header data"),
    (OSError(" \n "), {"with_type": False, "all_lines": True}, "OSError"),
    (OSError(LONG), {"with_type": False, "all_lines": True, "limit": 120}, "x" * 119 + "…"),
])
def test_one_line(exc, kwargs, expected):
    assert one_line(exc, **kwargs) == expected


@pytest.mark.parametrize("text, expected", [
    ("photo.png", "photo.png"),
    ("café · 写真.png", "café · 写真.png"),  # printable text of any script stays
    ("a b", "a b"),
    ("a\nb", "a\\nb"),
    ("a\rb\tc", "a\\rb\\tc"),
    ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    ("bell\x07", "bell\\x07"),
    ("del\x7f", "del\\x7f"),
    ("c1\x9b", "c1\\x9b"),
    ("photo\u202egnp.exe", "photo\\u202egnp.exe"),  # right-to-left override
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"),
    ("bytes\udcff", "bytes\\udcff"),  # an undecodable byte of a file name (surrogateescape)
    ("nbsp\u00a0", "nbsp\\xa0"),
], ids=["plain", "unicode", "space", "newline", "cr-tab", "esc", "bel", "del", "c1-csi", "bidi", "zero-width",
        "line-separator", "surrogate", "nbsp"])
def test_escape(text, expected):
    assert escape(text) == expected
    assert escape(expected) == expected  # idempotent: a message escaped twice reads the same


def test_one_line_escapes_what_it_quotes():
    assert one_line(ValueError("bad \x1b[2J name")) == "ValueError: bad \\x1b[2J name"
