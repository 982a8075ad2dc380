"""What an untrusted checkpoint claims (tensor shapes, dtypes, stored bytes), read from its metadata without materialising anything."""

from __future__ import annotations

import _compat_pickle
import io
import json
import math
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .errors import CheckpointError, escape, one_line
from .files import human_size

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "EXPANSION_ALLOWANCE",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_OPS",
    "MAX_ZIP_ENTRIES",
    "Claims",
    "TensorClaim",
    "check_claims",
    "file_claims",
    "state_claims",
]

# Memory a checkpoint may make wavevis allocate for its tensors (stored data and every tensor as the
# state_dict holds it), unless `max_memory=` says otherwise: ample for CNN checkpoints (wavevgg's
# is 14 MB, a ResNet-152's 240 MB), far below this machine size's 24 GB.
DEFAULT_MAX_MEMORY = 4 * 2**30
# What views may claim beyond the data a file stores (expanded stride-0 filters, tied weights): the
# stored bytes once more, or this much, whichever is larger. The posted wavelet filters need a few kB.
EXPANSION_ALLOWANCE = 64 * 2**20
# Largest pickle part (data.pkl, a legacy pickle, a safetensors header); a state_dict's pickle takes
# ~110 bytes per tensor.
MAX_PICKLE_BYTES = 16 * 2**20
# Most opcodes a pickle may have, counted before anything is unpickled: one opcode can make one
# object (a byte of EMPTY_DICT is a 64-byte dict), so this bounds what unpickling allocates to
# ~100 MB whatever the pickle; a state_dict takes ~37 opcodes per tensor (room for ~27,000). The
# count costs ~1 µs per opcode.
MAX_PICKLE_OPS = 1_000_000
# Entries of a torch zip (one per storage, plus ~6): Python's zipfile keeps ~0.5 kB per entry.
MAX_ZIP_ENTRIES = 200_000
# Distinct globals one pickle may name (a state_dict names ~5).
_MAX_GLOBALS = 1024

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_FIX = "save model.state_dict() with torch.save or safetensors"

# Legacy storage classes by name → (dtype name, element size in bytes).
_STORAGES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("float32", 4), "DoubleStorage": ("float64", 8), "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2), "LongStorage": ("int64", 8), "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2), "CharStorage": ("int8", 1), "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1), "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16), "QInt8Storage": ("qint8", 1),
    "QUInt8Storage": ("quint8", 1), "QInt32Storage": ("qint32", 4), "QUInt4x2Storage": ("quint4x2", 1),
    "QUInt2x4Storage": ("quint2x4", 1), "UntypedStorage": ("uint8", 1),
}
# safetensors dtype codes → element size in bits.
_SAFETENSORS_BITS: dict[str, int] = {
    "F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U64": 64,
    "U32": 32, "U16": 16, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "C64": 64,
    "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
}
_REBUILD = "torch._utils._rebuild_"
# Functions a state_dict's pickle may call; everything else it may only name (a dtype, a storage class).
_CALLS = {
    "collections.OrderedDict", "collections.Counter", "builtins.set", "builtins.frozenset",
    "builtins.complex", "builtins.bytearray", "_codecs.encode", "torch.Size", "torch.device",
    "torch.serialization._get_layout", "torch._tensor._rebuild_from_type_v2",
    *(_REBUILD + name for name in (
        "tensor", "tensor_v2", "tensor_v3", "parameter", "parameter_with_state", "qtensor",
        "sparse_tensor", "meta_tensor_no_storage", "nested_tensor", "wrapper_subclass",
        "device_tensor_from_cpu_tensor",
    )),
}
_NAMES = _CALLS | {
    "torch.Tensor", "torch.nn.parameter.Parameter", "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
    *(f"torch.{name}" for name in _STORAGES),
    *(f"torch.{q}" for q in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                              "per_channel_symmetric", "per_channel_affine_float_qparams")),
}


@dataclass(frozen=True)
class TensorClaim:
    """One tensor as a file describes it.

    Attributes:
        name: where it sits ("conv1.weight", or "state_dict/conv1.weight" inside a wrapper).
        dtype: its dtype's name ("float32", "float8_e4m3fn", "F8_E4M3", …).
        shape: its shape.
        nbytes: its size once materialised (numel × element size): what a contiguous copy takes.
        expanded: True when a stride is 0 on a dimension longer than 1 (an `expand`ed view).
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    expanded: bool = False


@dataclass(frozen=True)
class Claims:
    """What a checkpoint claims: the tensor data it stores and every tensor it describes.

    Attributes:
        stored: bytes of tensor data the file provides (its storages, once each).
        tensors: every tensor, in file order.
        other: bytes other objects claim (a `bytearray(n)` in a pickle).
    """

    stored: int
    tensors: tuple[TensorClaim, ...]
    other: int = 0

    @property
    def materialised(self) -> int:
        """Bytes of every tensor as a contiguous copy, plus other claims."""
        return sum(t.nbytes for t in self.tensors) + self.other


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


def check_claims(claims: Claims, label: str, *, max_memory: int | None = DEFAULT_MAX_MEMORY) -> None:
    """Refuse a checkpoint whose claims exceed the memory budget, before anything is materialised.

    Two rules: the stored data and the materialised tensors must each fit `max_memory`; and the
    tensors may not claim more than the stored data once more (or `EXPANSION_ALLOWANCE`, whichever
    is larger) beyond it, which stops a few kB of data expanded by stride-0 or repeated views into GBs.

    Args:
        claims: what the file claims.
        label: how messages call the file (escaped).
        max_memory: the budget in bytes; None for none (the expansion rule still holds).

    Raises:
        CheckpointError: one line naming the claim, the limit and the fix.
    """
    limit = f"the {human_size(max_memory)} limit (max_memory)" if max_memory is not None else ""
    if max_memory is not None and claims.stored > max_memory:
        raise CheckpointError(
            f"{label} holds {human_size(claims.stored)} of tensor data, over {limit}: use a smaller "
            "checkpoint, or raise max_memory if the machine has the memory and you trust the file"
        )
    claimed = claims.materialised
    subject = "its tensors claim" if not claims.other else "its pickle claims"
    largest = max(claims.tensors, key=lambda t: t.nbytes, default=None)
    what = ""
    if largest is not None:
        how = " as an expanded (stride-0) view" if largest.expanded else ""
        what = (f" (the largest: {escape(largest.name)!s} {_shape_text(largest.shape)} {largest.dtype}"
                f" = {human_size(largest.nbytes)}{how})")
    if max_memory is not None and claimed > max_memory:
        raise CheckpointError(
            f"{label}: {subject} {human_size(claimed)}{what}, over {limit}; nothing was "
            "allocated: use a smaller checkpoint, or raise max_memory if you trust the file"
        )
    allowance = claims.stored + max(claims.stored, EXPANSION_ALLOWANCE)
    if claimed > allowance:
        raise CheckpointError(
            f"{label}: {subject} {human_size(claimed)}{what} from {human_size(claims.stored)} "
            "of stored data (expanded or repeated views); refused before materialising anything: "
            "save contiguous tensors (tensor.clone()) if the file is yours"
        )


# -- torch pickles -----------------------------------------------------------------------------------


class _Refused(Exception):
    """The pickle needs something a state_dict never needs (the message says what)."""


class _Global:
    """An object a pickle named or called, kept as (name, args) and never run."""

    qualname: ClassVar[str] = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> _Global:
        if cls.qualname not in _CALLS:
            raise _Refused(f"it calls {cls.qualname}")
        self = object.__new__(cls)
        self.args, self.state, self.items = args, None, []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def add(self, item: Any) -> None:
        self.items.append(item)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))


@dataclass
class _Storage:
    """A persistent storage reference: its key, its type's name and size in elements."""

    key: str
    type_name: str
    numel: int


class _ClaimUnpickler(pickle.Unpickler):
    """Reads a pickle's structure with stand-ins for every global and storage: nothing is imported,
    called or allocated on the file's word."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.globals: dict[str, type[_Global]] = {}
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> type[_Global]:
        # Python 2 names of protocol 0-2 pickles (__builtin__.bytearray), as pickle's own find_class.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        found = self.globals.get(qualname)
        if found is not None:
            return found
        if qualname not in _NAMES and not _is_dtype_name(module, name):
            raise _Refused(f"it needs {qualname}")
        if len(self.globals) >= _MAX_GLOBALS:
            raise _Refused(f"it names over {_MAX_GLOBALS} globals")
        found = type("_Global", (_Global,), {"qualname": qualname})
        self.globals[qualname] = found
        return found

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise _Refused("it has a malformed storage reference")
        kind = pid[0].decode("ascii", "replace") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) > 1:
            return pid[1]
        if kind != "storage" or len(pid) < 5:
            raise _Refused("it has a malformed storage reference")
        storage_type, key, numel = pid[1], pid[2], pid[4]
        type_name = getattr(storage_type, "qualname", "?").rpartition(".")[2]
        if type_name not in _STORAGES or not isinstance(numel, int) or numel < 0:
            raise _Refused("it has a malformed storage reference")
        key = str(key)
        known = self.storages.get(key)
        if known is None or known.numel * _STORAGES[known.type_name][1] < numel * _STORAGES[type_name][1]:
            known = self.storages[key] = _Storage(key, type_name, numel)
        return known


def _is_dtype_name(module: str, name: str) -> bool:
    return module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)


def _dims(value: Any) -> tuple[int, ...] | None:
    """A shape or stride as ints, None when the pickle gave something else."""
    if isinstance(value, _Global) and value.qualname == "torch.Size" and value.args:
        value = value.args[0]
    if not isinstance(value, (tuple, list)) or len(value) > 64:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return tuple(value)


def _element(dtype: Any) -> tuple[str, int] | None:
    """(name, element size) of a dtype stand-in."""
    name = getattr(dtype, "qualname", "").rpartition(".")[2]
    real = getattr(torch, name, None)
    return (name, real.itemsize) if isinstance(real, torch.dtype) else None


def _tensor_claim(call: _Global, name: str) -> TensorClaim | None:
    """The claim of a tensor-rebuilding call, None for calls that make no dense tensor."""
    fn, args = call.qualname, call.args
    if fn == "torch._tensor._rebuild_from_type_v2" and len(args) >= 3 and isinstance(args[0], type):
        inner = args[0].__new__(args[0], *args[2]) if isinstance(args[2], tuple) else None
        return _tensor_claim(inner, name) if isinstance(inner, _Global) else None
    if fn == _REBUILD + "device_tensor_from_cpu_tensor" and len(args) >= 2 and isinstance(args[0], _Global):
        inner, element = _tensor_claim(args[0], name), _element(args[1])
        if inner is None or element is None:
            raise _Refused(f"{name} is a malformed tensor")
        return TensorClaim(name, element[0], inner.shape, math.prod(inner.shape) * element[1], inner.expanded)
    if fn not in (_REBUILD + "tensor", _REBUILD + "tensor_v2", _REBUILD + "tensor_v3", _REBUILD + "qtensor"):
        return None
    if len(args) < 4 or not isinstance(args[0], _Storage):
        raise _Refused(f"{name} is a malformed tensor")
    shape, stride = _dims(args[2]), _dims(args[3])
    if shape is None or stride is None or len(shape) != len(stride):
        raise _Refused(f"{name} has a malformed shape or stride")
    element = _STORAGES[args[0].type_name]
    if fn == _REBUILD + "tensor_v3":
        element = _element(args[6]) if len(args) > 6 else None
        if element is None:
            raise _Refused(f"{name} has an unknown dtype")
    expanded = any(st == 0 and size > 1 for size, st in zip(shape, stride))
    return TensorClaim(name, element[0], shape, math.prod(shape) * element[1], expanded)


def _walk(root: Any) -> tuple[list[TensorClaim], int]:
    """Every tensor claim reachable from an unpickled stand-in tree (iterative: any depth), and the
    bytes other calls claim."""
    claims: list[TensorClaim] = []
    other = 0
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(root, "")]
    while stack:
        obj, path = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), _Storage)):
            continue
        seen.add(id(obj))

        def key(k: Any) -> str:
            return f"{path}/{k}" if path else str(k)

        if isinstance(obj, Mapping):
            stack.extend((v, key(k)) for k, v in reversed(list(obj.items())))
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((v, path) for v in obj)
        elif isinstance(obj, _Global):
            claim = _tensor_claim(obj, path or "tensor")
            if claim is not None:
                claims.append(claim)
                continue
            if obj.qualname == "builtins.bytearray" and obj.args and isinstance(obj.args[0], int):
                other += max(0, obj.args[0])
            pairs = [item for item in obj.items if isinstance(item, tuple) and len(item) == 2]
            if obj.qualname == "collections.OrderedDict" and len(pairs) == len(obj.items):
                stack.extend((v, key(k)) for k, v in reversed(pairs))
            else:
                stack.extend((v, path) for v in obj.items)
            stack.extend((v, path) for v in obj.args)
            if obj.state is not None:
                stack.append((obj.state, path))
    return claims, other


def _pickle_too_large(label: str, size: int | None) -> CheckpointError:
    said = f"is {human_size(size)}, over" if size is not None else "is larger than"
    return CheckpointError(
        f"{label}: its pickle part {said} the {human_size(MAX_PICKLE_BYTES)} limit (a state_dict's "
        f"takes ~110 bytes per tensor): {_FIX}"
    )


def _count_ops(head: bytes, label: str, pickles: int) -> None:
    """Refuse pickles of more than MAX_PICKLE_OPS opcodes, before any object is made."""
    stream, count = io.BytesIO(head), 0
    try:
        for _ in range(pickles):
            for _op in pickletools.genops(stream):
                count += 1
                if count > MAX_PICKLE_OPS:
                    raise CheckpointError(
                        f"{label}: its pickle has over {MAX_PICKLE_OPS:,} opcodes (a state_dict takes ~37 per "
                        f"tensor); refused before unpickling anything: {_FIX}"
                    )
    except (ValueError, struct.error, UnicodeDecodeError, OverflowError):
        return  # the end of the pickles, or a damaged one: the unpickler says which


def _pickle_claims(data: bytes, label: str, *, legacy: bool) -> Claims:
    # A legacy file is pickles followed by raw storage bytes: the pickles may use the first
    # MAX_PICKLE_BYTES (+ a little for the three small ones before the object), never more.
    head = data[: MAX_PICKLE_BYTES + 4096] if legacy else data
    _count_ops(head, label, 4 if legacy else 1)
    stream = io.BytesIO(head)
    unpickler = _ClaimUnpickler(stream)
    try:
        root = unpickler.load()
        if legacy and isinstance(root, int) and root == _LEGACY_MAGIC:
            for _ in range(2):  # protocol version, system info
                _ClaimUnpickler(stream).load()
            unpickler = _ClaimUnpickler(stream)
            root = unpickler.load()  # the object; its storages' bytes follow it in the file
        claims, other = _walk(root)
    except _Refused as exc:
        raise CheckpointError(
            f"{label} is a pickled object, not a state_dict ({exc}): refused without running it "
            "(save model.state_dict() instead)"
        ) from None
    except EOFError:
        if len(head) < len(data):
            raise _pickle_too_large(label, None) from None
        raise CheckpointError(f"{label} is truncated (ends early): copy or download it again") from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, RecursionError, MemoryError, UnicodeDecodeError, struct.error) as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        if len(head) < len(data) and "truncated" in reason:
            raise _pickle_too_large(label, None) from None
        if "truncated" in reason or "ran out of input" in reason.lower():
            raise CheckpointError(f"{label} is truncated (ends early): copy or download it again") from None
        raise CheckpointError(
            f"{label} is not a readable PyTorch checkpoint ({reason}): it may be truncated or corrupt, "
            "copy or save it again"
        ) from None
    stored = sum(s.numel * _STORAGES[s.type_name][1] for s in unpickler.storages.values())
    return Claims(stored, tuple(claims), other)


def _zip_entries(data: bytes) -> int | None:
    """The entry count in a zip's end-of-central-directory record (zip64 too), None if not found."""
    tail = data[-(65536 + 22):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    count = struct.unpack_from("<H", tail, at + 10)[0]
    locator = at - 20
    if count == 0xFFFF and locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", tail, locator + 8)[0]
        if data[offset:offset + 4] == b"PK\x06\x06":
            count = struct.unpack_from("<Q", data, offset + 32)[0]
    return count


def _zip_claims(data: bytes, label: str, max_memory: int | None) -> Claims:
    entries = _zip_entries(data)
    if entries is not None and entries > MAX_ZIP_ENTRIES:
        raise CheckpointError(
            f"{label} is a zip of {entries:,} entries, over the {MAX_ZIP_ENTRIES:,} a checkpoint may have: {_FIX}"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error, OSError) as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise CheckpointError(
            f"{label} is not a readable PyTorch checkpoint (a damaged zip: {reason}): it may be truncated "
            "or corrupt, copy or save it again"
        ) from None
    declared = sum(info.file_size for info in infos)  # what the reader allocates, record by record
    if max_memory is not None and declared > max_memory:
        packed = "; its entries are compressed (a zip bomb?)" if any(i.compress_type for i in infos) else ""
        raise CheckpointError(
            f"{label} unpacks to {human_size(declared)}, over the {human_size(max_memory)} limit (max_memory)"
            f"{packed}: {_FIX}"
        )
    pickles = [info for info in infos if info.filename.endswith("data.pkl") and info.filename.count("/") == 1]
    if len(pickles) != 1:
        raise CheckpointError(
            f"{label} is a zip but not a torch.save file (no single data.pkl): {_FIX}"
        )
    if pickles[0].file_size > MAX_PICKLE_BYTES:
        raise _pickle_too_large(label, pickles[0].file_size)
    try:
        pickled = archive.read(pickles[0])
    except Exception as exc:  # noqa: BLE001 - a damaged entry of any kind
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise CheckpointError(
            f"{label} is not a readable PyTorch checkpoint ({reason}): it may be truncated or corrupt, "
            "copy or save it again"
        ) from None
    claims = _pickle_claims(pickled, label, legacy=False)
    records = {info.filename.partition("/")[2]: info.file_size for info in infos}
    # A record's declared size is what the reader allocates for it, whatever the pickle says.
    stored = max(claims.stored, sum(size for name, size in records.items() if name.startswith("data/")))
    return Claims(stored, claims.tensors, claims.other)


def _safetensors_claims(data: bytes, label: str) -> Claims:
    (length,) = struct.unpack_from("<Q", data, 0)
    if length > len(data) - 8:
        raise CheckpointError(
            f"{label} is truncated (its safetensors header claims {human_size(length)}, the whole file "
            f"has {human_size(len(data))}): copy or download it again"
        )
    if length > MAX_PICKLE_BYTES:
        raise CheckpointError(
            f"{label}: its safetensors header is {human_size(length)}, over the "
            f"{human_size(MAX_PICKLE_BYTES)} limit: {_FIX}"
        )
    try:
        header = json.loads(data[8:8 + length])
    except (ValueError, RecursionError) as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=120)
        raise CheckpointError(
            f"{label} is not a readable safetensors file (its header is not JSON: {reason}): it may be "
            "truncated or corrupt, copy or save it again"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{label} is not a readable safetensors file (its header is not a JSON object): {_FIX}")
    tensors, stored = [], 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shape = _dims(info.get("shape")) if isinstance(info, dict) else None
        offsets = _dims(info.get("data_offsets")) if isinstance(info, dict) else None
        bits = _SAFETENSORS_BITS.get(info.get("dtype")) if isinstance(info, dict) else None
        if shape is None or offsets is None or len(offsets) != 2 or bits is None:
            continue  # safetensors itself names what is wrong with it
        stored += max(0, offsets[1] - offsets[0])
        tensors.append(TensorClaim(str(name), str(info["dtype"]), shape, -(-math.prod(shape) * bits // 8)))
    return Claims(stored, tuple(tensors))


def file_claims(data: bytes, fmt: str, label: str, *, max_memory: int | None = DEFAULT_MAX_MEMORY) -> Claims:
    """What a checkpoint's bytes claim, read from its zip directory, pickle or safetensors header.

    Nothing in the file is imported, called or allocated: the pickle is read with stand-ins for
    every global (a global a state_dict never names, or a call other than the tensor-rebuilding
    ones, refuses the file as torch's weights-only loader would, and more strictly: torch's lets a
    pickle call `bytearray(n)` or `torch.FloatTensor(n)`).

    Args:
        data: the file's bytes.
        fmt: "torch-zip", "torch-pickle" or "safetensors" (see `checkpoints.checkpoint_format`).
        label: how messages call the file (escaped).
        max_memory: the budget a zip's declared sizes are checked against before anything is unpacked.

    Raises:
        CheckpointError: the metadata is malformed, over a structural limit, or needs more than a
            state_dict does.
    """
    if fmt == "torch-zip":
        return _zip_claims(data, label, max_memory)
    if fmt == "safetensors":
        return _safetensors_claims(data, label)
    return _pickle_claims(data, label, legacy=True)


def state_claims(state: Mapping[str, Any]) -> Claims:
    """The claims of tensors already in memory (their storages once each, each tensor materialised)."""
    storages: dict[tuple[str, int], int] = {}
    tensors = []
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_nested:
            continue
        try:
            storage = value.untyped_storage()
            storages[(str(value.device), storage.data_ptr() or id(storage))] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        expanded = any(st == 0 and size > 1 for size, st in zip(value.shape, value.stride()))
        tensors.append(TensorClaim(str(key), str(value.dtype).removeprefix("torch."), tuple(value.shape),
                                   value.numel() * value.element_size(), expanded))
    return Claims(sum(storages.values()), tuple(tensors))
