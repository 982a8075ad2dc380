"""Issue 5's bad and odd inputs, generated as bytes, each with the outcome wavevis must give.

Every case is built on demand into a scratch folder (no binary blobs in the repo). `outcome` is
"ok" (accepted, possibly with a notice or warning containing `words`) or "error" (refused with a
one-line message containing every one of `words`). The same cases feed the CLI and the app tests.

Families:
- IMAGES: image files given to `wavevis stats` / the app's image uploader.
- CHECKPOINTS: weights for the built-in `wavevgg` (7 classes, seed 0), given as `--weights` /
  the app's checkpoint uploader.
- SPECS: custom model files named as `file.py:Net` (`--model` / `streamlit run app.py -- --model`).

Hostile pickles write `MARKER_NAME` into the scratch folder if they ever run.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import shlex
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from wavevis.models import build_model

__all__ = [
    "CHECKPOINTS", "HOSTILE_CHECKPOINTS", "HOSTILE_IMAGES", "HOSTILE_SPECS", "IMAGES", "MARKER_NAME", "SPECS",
    "Case", "PathCase", "good_checkpoint", "good_image", "special_paths",
]

MARKER_NAME = "payload-ran"
Family = Literal["image", "checkpoint", "spec"]
Outcome = Literal["ok", "error"]


@dataclass(frozen=True)
class Case:
    """One corpus input and what wavevis must do with it.

    Attributes:
        id: test id.
        family: "image", "checkpoint" or "spec".
        filename: the file's name (what messages and the uploader see).
        make: scratch folder → the file's bytes.
        outcome: "ok" or "error".
        words: error: phrases the one-line message contains; ok: phrases of the notice or
            warning shown (empty when there is none).
        size: --size / the app's Size for this case (0 keeps the image's own size).
        input_size: (width, height) of the model input the case must produce, when checked.
        attr: name after ':' in a model spec.
        max_bytes: checkpoint size limit the case is meant for (None: no limit needed).
    """

    id: str
    family: Family
    filename: str
    make: Callable[[Path], bytes]
    outcome: Outcome
    words: tuple[str, ...] = ()
    size: int = 64
    input_size: tuple[int, int] | None = None
    attr: str = "Net"
    max_bytes: int | None = None

    def write(self, folder: Path) -> Path:
        """Build the file into `folder` and return its path."""
        path = folder / self.filename
        path.write_bytes(self.make(folder))
        return path


# -- images ----------------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    """The bytes of `im` saved as `fmt` (PNG, JPEG, GIF, …)."""
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def noise_pixels(width: int, height: int, seed: int = 0) -> np.ndarray:
    """Seeded uint8 RGB noise, (height, width, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def good_image(width: int = 48, height: int = 40, seed: int = 1) -> bytes:
    """A small, valid RGB PNG of noise."""
    return encode(Image.fromarray(noise_pixels(width, height, seed)), "PNG")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header claims width×height RGB but that carries almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _sixteen_bit_gray() -> bytes:
    ramp = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")  # mode I;16


def _cmyk_jpeg() -> bytes:
    return encode(Image.fromarray(noise_pixels(64, 48, 2)).convert("CMYK"), "JPEG", quality=90)


def _palette_with_transparency() -> bytes:
    im = Image.fromarray(noise_pixels(64, 48, 3)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(im, "PNG", transparency=0)


def _gray_alpha() -> bytes:
    gray = Image.fromarray(noise_pixels(64, 48, 4)[..., 0])
    alpha = Image.new("L", gray.size, 255)
    alpha.paste(0, (0, 0, 32, 48))  # left half fully transparent
    return encode(Image.merge("LA", (gray, alpha)), "PNG")


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_rotated_jpeg() -> bytes:
    """Stored 40 wide × 24 high, EXIF orientation 6 (rotate 90° clockwise): shown 24 × 40."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(noise_pixels(40, 24, 5)), "JPEG", exif=exif.tobytes(), quality=95)


def _large_flat_jpeg() -> bytes:
    """20 megapixels of one colour: real pixels, a few hundred kB, downscaled on decode."""
    return encode(Image.new("RGB", (5000, 4000), (90, 140, 200)), "JPEG", quality=80)


def _image(id: str, filename: str, make: Callable[[], bytes], outcome: Outcome, *words: str,
           size: int = 64, input_size: tuple[int, int] | None = None) -> Case:
    return Case(id, "image", filename, lambda _folder: make(), outcome, words, size, input_size)


IMAGES: tuple[Case, ...] = (
    _image("empty", "empty.png", lambda: b"", "error", "empty.png", "empty (0 bytes)"),
    _image("not-an-image", "notes.png", lambda: b"shopping list: milk, eggs, flour\n" * 4, "error",
           "notes.png", "not an image", "looks like text"),
    _image("truncated-png", "cut.png", lambda: _truncated(good_image(64, 64)), "error",
           "cut.png", "truncated"),
    _image("truncated-jpeg", "cut.jpg",
           lambda: _truncated(encode(Image.fromarray(noise_pixels(64, 64, 6)), "JPEG", quality=95)),
           "error", "cut.jpg", "truncated"),
    _image("bomb-header", "bomb.png", lambda: png_claiming(60000, 60000), "error",
           "bomb.png", "60000×60000", "decompression bomb"),
    _image("too-small", "tiny.png", lambda: good_image(5, 5), "error",
           "tiny.png is 5×5", "at least 16×16", size=0),
    _image("large", "large.jpg", _large_flat_jpeg, "ok", "downscaled from 5000×4000 to 2048×1638"),
    _image("16-bit-gray", "gray16.png", _sixteen_bit_gray, "ok", "16-bit"),
    _image("cmyk-jpeg", "cmyk.jpg", _cmyk_jpeg, "ok"),
    _image("palette-transparency", "palette.png", _palette_with_transparency, "ok", "transparent"),
    _image("gray-alpha", "gray_alpha.png", _gray_alpha, "ok", "transparent"),
    _image("animated-gif", "anim.gif", _animated_gif, "ok", "3 frames", "first"),
    _image("exif-rotated", "rotated.jpg", _exif_rotated_jpeg, "ok", size=0, input_size=(24, 40)),
    _image("odd-size", "odd.png", lambda: good_image(301, 173), "ok", size=0, input_size=(301, 173)),
)


# -- checkpoints -----------------------------------------------------------------------------------


def _saved(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _state(num_classes: int = 7) -> dict[str, torch.Tensor]:
    return build_model("wavevgg", num_classes=num_classes, seed=0).state_dict()


@functools.lru_cache(maxsize=None)
def good_checkpoint() -> bytes:
    """The state_dict of wavevgg (7 classes, seed 0) in torch's zip format (about 14 MB)."""
    return _saved(_state())


class _TouchMarker:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _wrong_keys() -> bytes:
    renamed = {("fc." + k.split(".", 1)[1] if k.startswith("classify.") else k): v for k, v in _state().items()}
    return _saved(renamed)


def _wrong_shapes() -> bytes:
    state = dict(_state())
    state["conv1_1.weight"] = torch.zeros(64, 3, 5, 5)
    return _saved(state)


def _nonfinite() -> bytes:
    state = {k: v.clone() for k, v in _state().items()}
    state["conv1_1.weight"][0, 0, 0, 0] = float("nan")
    state["conv2_1.weight"][0, 0, 0, 0] = float("inf")
    return _saved(state)


def _whole_module() -> bytes:
    return _saved(build_model("wavevgg", seed=0))


def _checkpoint(id: str, filename: str, make: Callable[[Path], bytes], outcome: Outcome, *words: str,
                max_bytes: int | None = None) -> Case:
    return Case(id, "checkpoint", filename, make, outcome, words, max_bytes=max_bytes)


CHECKPOINTS: tuple[Case, ...] = (
    _checkpoint("random-bytes", "random.pt",
                lambda _f: np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
                "error", "random.pt", "not a PyTorch"),
    _checkpoint("truncated", "cut.pt", lambda _f: _truncated(good_checkpoint()), "error",
                "cut.pt", "truncated"),
    _checkpoint("pickle-payload", "payload.pkl.pt",
                lambda f: pickle.dumps(_TouchMarker(f / MARKER_NAME)), "error",
                "payload.pkl.pt", "refused without running it"),
    _checkpoint("torch-zip-payload", "payload.pt", lambda f: _saved(_TouchMarker(f / MARKER_NAME)),
                "error", "payload.pt", "refused without running it"),
    _checkpoint("whole-module", "whole.pt", lambda _f: _whole_module(), "error",
                "whole.pt", "pickled object, not a state_dict", "save model.state_dict()"),
    _checkpoint("wrong-keys", "renamed.pt", lambda _f: _wrong_keys(), "error",
                "renamed.pt does not fit wavevgg", "2 missing (classify.weight", "2 unexpected (fc."),
    _checkpoint("wrong-shapes", "shapes.pt", lambda _f: _wrong_shapes(), "error",
                "shapes.pt does not fit wavevgg", "shape mismatch", "conv1_1.weight 64x3x5x5 vs 64x3x3x3"),
    _checkpoint("other-class-count", "ten.pt", lambda _f: _saved(_state(10)), "error",
                "ten.pt does not fit wavevgg", "trained for 10 classes", "--num-classes 10", "Classes in the app"),
    _checkpoint("nan-inf", "nan.pt", lambda _f: _nonfinite(), "ok", "NaN"),
    _checkpoint("over-limit", "big.pt", lambda _f: good_checkpoint(), "error",
                "big.pt", "limit", max_bytes=1 << 20),
)


# -- model specs -------------------------------------------------------------------------------------

# A 1-channel model: its forward raises on the 3-channel images wavevis gives it. Instances are
# kept so a test can check that no hook is left behind on them.
_ONE_CHANNEL = '''
import torch.nn as nn

INSTANCES = []


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        INSTANCES.append(self)

    def forward(self, x):
        return self.pool(self.act(self.conv(x)))
'''


def _spec(id: str, filename: str, source: str, *words: str, attr: str = "Net") -> Case:
    return Case(id, "spec", filename, lambda _f: source.encode(), "error", words, attr=attr)


SPECS: tuple[Case, ...] = (
    _spec("syntax-error", "broken_syntax.py", "import torch.nn as nn\nclass Net(nn.Module)\n    pass\n",
          "importing", "broken_syntax.py", "SyntaxError", "fix the file"),
    _spec("import-error", "needs_missing.py", "import wavevis_no_such_package_xyz\n",
          "importing", "needs_missing.py", "wavevis_no_such_package_xyz", "install it"),
    _spec("missing-name", "no_net.py", "import torch.nn as nn\nclass Other(nn.Module):\n    pass\n",
          "has no 'Net'", "it defines Other"),
    _spec("not-callable", "number.py", "Net = 3\n", "names a int, not a class or function"),
    _spec("returns-non-module", "factory.py", "def Net():\n    return {'conv': 'not a model'}\n",
          "returned a dict, not an nn.Module"),
    _spec("forward-raises", "one_channel.py", _ONE_CHANNEL,
          "forward pass failed", "1x3x64x64", "3-channel"),
)


# -- issue 13: hostile checkpoints, files that are not files, hostile models -----------------------------
#
# Each HOSTILE_* case must be refused in one line *without allocating what the file claims*:
# tests/test_bad_input.py measures the peak RSS of each refusal in a fresh process.


def _pickled_call(fn: object, *args: object) -> bytes:
    """A protocol-2 pickle of {"w": fn(*args)}: the call runs only if an unpickler lets it."""

    class Call:
        def __reduce__(self):
            return fn, args

    return pickle.dumps({"w": Call()}, protocol=2)


def _repeated_views(copies: int = 400, numel: int = 1 << 18) -> bytes:
    """`copies` keys viewing one 1 MB storage: 400 MB once each view is made its own tensor."""
    base = torch.zeros(numel)
    return _saved({f"w{i}": base for i in range(copies)})


def _zip_bomb() -> bytes:
    """A torch zip with two deflated 1 MB records of zeros whose headers declare 3 GB each (what
    the reader allocates before inflating): a zip bomb, without writing gigabytes to make it."""
    import zipfile

    inner = zipfile.ZipFile(io.BytesIO(_saved({"w": torch.zeros(4)})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in inner.infolist():
            archive.writestr(info, inner.read(info))
        for name in ("archive/data/98", "archive/data/99"):
            archive.writestr(name, b"\0" * (1 << 20), compress_type=zipfile.ZIP_DEFLATED)
    data = bytearray(out.getvalue())
    for name in (b"archive/data/98", b"archive/data/99"):
        for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
            at = data.find(signature)
            while at >= 0 and data[at + name_at: at + name_at + len(name)] != name:
                at = data.find(signature, at + 1)
            assert at >= 0
            struct.pack_into("<I", data, at + size_at, 3_000_000_000)
    return bytes(data)


def _big_pickle_part() -> bytes:
    """A torch zip whose data.pkl declares 32 MB (deflated to a few kB)."""
    import zipfile

    inner = zipfile.ZipFile(io.BytesIO(_saved({"w": torch.zeros(4)})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in inner.infolist():
            data = inner.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[:-1] + b"N" * (32 << 20) + b"0."  # NONE, POP…: still a valid pickle
                info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def _legacy_claim() -> bytes:
    """A legacy torch pickle whose one storage claims 10¹⁰ floats (40 GB) with 16 bytes stored."""
    data = _saved({"w": torch.zeros(4)}, _use_new_zipfile_serialization=False)
    # The storage's persistent id ends with its numel (BININT1 4), view metadata (NONE), TUPLE.
    at = data.find(b"K\x04Nt")
    assert at > 0 and data.find(b"K\x04Nt", at + 1) < 0
    return data[:at] + b"\x8a\x05" + (10**10).to_bytes(5, "little") + data[at + 2:]


def _safetensors_header(length: int, body: bytes) -> bytes:
    return struct.pack("<Q", length) + body


def _safetensors_claiming_gb() -> bytes:
    """A safetensors header describing a 40 GB tensor over 16 bytes of data."""
    header = b'{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,16]}}'
    return _safetensors_header(len(header), header) + b"\0" * 16


def _deep_pickle(depth: int = 100_000) -> bytes:
    """A pickle of a list nested `depth` deep (EMPTY_LIST, then APPEND closing each level)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def _empty_dict_bomb() -> bytes:
    """15 MB of EMPTY_DICT opcodes: under the pickle limit, ~1 GB of dicts if it were unpickled whole."""
    return b"\x80\x02" + b"}" * (15 << 20) + b"."


def _float8_weights() -> bytes:
    return _saved({k: (v.to(torch.float8_e4m3fn) if v.is_floating_point() else v) for k, v in _state().items()})


def _float4_weights() -> bytes:
    state = dict(_state())
    state["classify.bias"] = torch.zeros(7, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    return _saved(state)


def _escaped_keys() -> bytes:
    state = dict(_state())
    state["evil\nwarning: all clear\x1b[2J"] = torch.zeros(1)
    return _saved(state)


HOSTILE_CHECKPOINTS: tuple[Case, ...] = (
    _checkpoint("expanded-view", "expanded.pt",
                lambda _f: _saved({"w": torch.ones(1).expand(100_000, 100_000)}), "error",
                "expanded.pt", "40.0 GB", "expanded (stride-0) view", "nothing was allocated"),
    _checkpoint("expanded-view-legacy", "expanded_legacy.pt",
                lambda _f: _saved({"w": torch.ones(1).expand(100_000, 100_000)},
                                  _use_new_zipfile_serialization=False), "error",
                "expanded_legacy.pt", "40.0 GB", "expanded (stride-0) view"),
    _checkpoint("expanded-under-limit", "expanded_1g.pt",
                lambda _f: _saved({"w": torch.ones(1).expand(16_000, 16_000)}), "error",
                "expanded_1g.pt", "claim 1.0 GB", "from 4 bytes of stored data", "refused before materialising"),
    _checkpoint("repeated-views", "repeated.pt", lambda _f: _repeated_views(), "error",
                "repeated.pt", "claim 419.4 MB", "from 1.0 MB of stored data"),
    _checkpoint("bytearray-call", "bytearray.pt", lambda _f: _pickled_call(bytearray, 10**10), "error",
                "bytearray.pt", "claims 10.0 GB", "nothing was allocated"),
    _checkpoint("tensor-class-call", "floattensor.pt", lambda _f: _pickled_call(torch.FloatTensor, 10**10),
                "error", "floattensor.pt", "it needs torch.FloatTensor", "refused without running it"),
    _checkpoint("zip-bomb", "bomb.pt", lambda _f: _zip_bomb(), "error",
                "bomb.pt unpacks to 6.0 GB", "compressed"),
    _checkpoint("pickle-part-too-large", "bigpickle.pt", lambda _f: _big_pickle_part(), "error",
                "bigpickle.pt", "pickle part is 33.6 MB, over the 16.8 MB limit"),
    _checkpoint("legacy-storage-claim", "legacy_claim.pt", lambda _f: _legacy_claim(), "error",
                "legacy_claim.pt", "holds 40.0 GB of tensor data"),
    _checkpoint("safetensors-header-length", "length.safetensors",
                lambda _f: _safetensors_header(2**62, b'{"w":{}}') + b"\0" * 16, "error",
                "length.safetensors is truncated", "header claims"),
    _checkpoint("safetensors-claim", "claim.safetensors", lambda _f: _safetensors_claiming_gb(), "error",
                "claim.safetensors", "40.0 GB"),
    _checkpoint("safetensors-deep-header", "deep.safetensors",
                lambda _f: _safetensors_header(200_006, b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}") + b"\0" * 8,
                "error", "deep.safetensors is not a readable safetensors file (its header is not JSON"),
    _checkpoint("deep-pickle", "deep.pt", lambda _f: _deep_pickle(), "error", "deep.pt"),
    _checkpoint("empty-dict-bomb", "dicts.pt", lambda _f: _empty_dict_bomb(), "error",
                "dicts.pt", "over 1,000,000 opcodes", "before unpickling anything"),
    _checkpoint("float8-weights", "float8.pt", lambda _f: _float8_weights(), "ok"),
    _checkpoint("float4-weights", "float4.pt", lambda _f: _float4_weights(), "error",
                "float4.pt", "classify.bias", "float4_e2m1fn_x2"),
    _checkpoint("control-characters-in-keys", "keys.pt", lambda _f: _escaped_keys(), "error",
                "keys.pt does not fit wavevgg", "evil\\nwarning: all clear\\x1b[2J"),
)


@dataclass(frozen=True)
class PathCase:
    """A path that is not an ordinary file (a device, a FIFO, a folder, a huge sparse file, …).

    Attributes:
        id: test id.
        make: scratch folder → the path to give (made in the folder).
        words: phrases of the one-line refusal.
    """

    id: str
    make: Callable[[Path], Path]
    words: tuple[str, ...]


def _symlink(folder: Path, name: str, target: str | Path) -> Path:
    path = folder / name
    path.symlink_to(target)
    return path


def _fifo(folder: Path, name: str) -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


def _sparse(folder: Path, name: str, size: int, head: bytes = b"") -> Path:
    path = folder / name
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def _directory(folder: Path, name: str) -> Path:
    path = folder / name
    path.mkdir()
    return path


def _socket(folder: Path, name: str) -> Path:
    import socket

    path = folder / name
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return path


def _loop(folder: Path, name: str) -> Path:
    path = folder / name
    path.symlink_to(path)
    return path


def special_paths(suffix: str, what: str) -> tuple[PathCase, ...]:
    """Paths named `*{suffix}` that must be refused (by kind or size) before they are read."""
    return (
        PathCase("dev-zero-symlink", lambda f: _symlink(f, f"zero{suffix}", "/dev/zero"),
                 (f"zero{suffix} is a character device (a symlink to /dev/zero), not a regular file",)),
        PathCase("fifo", lambda f: _fifo(f, f"pipe{suffix}"),
                 (f"pipe{suffix} is a FIFO (named pipe), not a regular file",)),
        PathCase("directory", lambda f: _directory(f, f"folder{suffix}"), (f"folder{suffix} is a directory",)),
        PathCase("socket", lambda f: _socket(f, f"sock{suffix}"), (f"sock{suffix} is a socket",)),
        PathCase("symlink-loop", lambda f: _loop(f, f"loop{suffix}"), (f"loop{suffix} is a symlink loop",)),
        PathCase("dangling-symlink", lambda f: _symlink(f, f"gone{suffix}", f / "nothing"),
                 (f"gone{suffix} does not exist (a symlink whose target is missing)",)),
        PathCase("sparse-5gb", lambda f: _sparse(f, f"sparse{suffix}", 5 * 10**9), (f"sparse{suffix} is 5.0 GB", "limit")),
    )


def _corrupt_exif_jpeg() -> bytes:
    """A JPEG whose EXIF block points past its end (Pillow warns "Corrupt EXIF data")."""
    jpeg = encode(Image.fromarray(noise_pixels(32, 32, 8)), "JPEG", quality=90)
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x05"  # five entries announced, two given
            + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
            + b"\x87\x69\x00\x04\x00\x00\x00\x01\x00\x00\xff\xff")
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


HOSTILE_IMAGES: tuple[Case, ...] = (
    _image("corrupt-exif", "exif.jpg", _corrupt_exif_jpeg, "ok", "EXIF data is corrupt", size=32),
    _image("control-characters-in-name", "evil\n\x1b[31mred\x07.png", lambda: _truncated(good_image(64, 64)),
           "error", "evil\\n\\x1b[31mred\\x07.png", "truncated"),
    _image("bidi-override-in-name", "photo\u202egnp.exe.png", lambda: b"not an image at all",
           "error", "photo\\u202egnp.exe.png", "not an image"),
)

_EXITS = '''
import sys
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        sys.exit(3)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1)
        self.block = Block()

    def forward(self, x):
        return self.block(self.stem(x))
'''

_BASE_EXCEPTION = '''
import torch.nn as nn


class Escape(BaseException):
    pass


class Gate(nn.Module):
    def forward(self, x):
        raise Escape("gone")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = Gate()

    def forward(self, x):
        return self.gate(self.conv(x))
'''

_FUNCTIONAL_ONLY = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(4, 3, 3, 3))

    def forward(self, x):
        return F.max_pool2d(F.relu(F.conv2d(x, self.weight)), 2)
'''

_EXIT_ON_BUILD = '''
import sys
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        sys.exit("no GPU, bye")
'''

HOSTILE_SPECS: tuple[Case, ...] = (
    _spec("forward-calls-sys-exit", "exits.py", _EXITS, "forward pass called sys.exit(3)", "in block (Block)",
          "1x3x64x64"),
    _spec("forward-raises-base-exception", "escapes.py", _BASE_EXCEPTION, "forward pass failed in gate (Gate)",
          "Escape: gone"),
    _spec("no-recorded-layer", "functional.py", _FUNCTIONAL_ONLY, "recorded no layer", "F.relu"),
    _spec("build-calls-sys-exit", "exit_build.py", _EXIT_ON_BUILD, "calling", "SystemExit: no GPU, bye"),
)
