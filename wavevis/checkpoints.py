"""Safe checkpoint loading (weights-only pickles, safetensors), key clean-up and a fit/filter report."""

from __future__ import annotations

import io
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO, Literal

import torch
import torch.nn as nn

from .claims import DEFAULT_MAX_MEMORY, check_claims, file_claims, state_claims
from .errors import CheckpointError, escape, one_line
from .files import read_limited
from .filterbank import UNIFORM_TOL, kernel_spread, match_band
from .pooling import WavePool2d, wavelet_pools
from .wavelets import SUBBANDS, analysis_filters

__all__ = [
    "CHECKPOINT_EXTENSIONS",
    "LoadReport",
    "apply_state_dict",
    "checkpoint_format",
    "read_state_dict",
    "source_name",
]

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO
Format = Literal["torch-zip", "torch-pickle", "safetensors"]

# Checkpoint dicts that wrap the weights, in the order they are tried.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
# Prefixes added by nn.DataParallel / DistributedDataParallel and by torch.compile.
STRIP_PREFIXES = ("module.", "_orig_mod.")
# File extensions uploads of checkpoints are offered with (the loader itself goes by content).
CHECKPOINT_EXTENSIONS: tuple[str, ...] = ("pt", "pth", "safetensors", "bin", "ckpt")
_LIST_KEYS = 3


def checkpoint_format(data: bytes) -> Format | None:
    """The checkpoint format that `data` starts like, judged by content, not by file name.

    Returns:
        "torch-zip" (torch.save since 1.6), "torch-pickle" (legacy torch.save / a plain pickle),
        "safetensors", or None when the bytes look like none of them.
    """
    head = bytes(data[:9])
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "torch-zip"
    if head[:1] == b"\x80":
        return "torch-pickle"
    # safetensors: little-endian u64 header length, then a JSON object.
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"
    return None


def read_state_dict(
    source: Source, *, name: str | None = None, max_bytes: int | None = None,
    max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> dict[str, torch.Tensor]:
    """Read a state_dict without running any code from the file or allocating on its word.

    A path must be a regular file (a FIFO, a device, a directory or a symlink to one is refused
    before it is opened) and is refused by its size, and by its first bytes when they are no
    checkpoint, before the rest is read. Then what the file claims — its zip directory, every
    tensor its pickle describes (shape × dtype, counting stride-0 expansion and repeated views),
    its safetensors header — is read without materialising anything (`wavevis.claims`) and checked
    against `max_memory`. Only then are `.pt`/`.pth` files loaded with
    `torch.load(weights_only=True, map_location="cpu")`, whose restricted unpickler refuses every
    global that is not a tensor type, so a pickled `nn.Module` or a malicious payload is refused
    before anything in it runs; `.safetensors` files go through safetensors. The format is told by
    content. `{"state_dict": …}`, `{"model": …}` and `{"model_state_dict": …}` wrappers are
    unwrapped, `module.` (DataParallel) and `_orig_mod.` (torch.compile) prefixes are stripped, and
    expanded (stride-0) or otherwise non-contiguous tensors become contiguous clones.

    Args:
        source: a path, the file's bytes, or a binary file-like object (e.g. an upload).
        name: how messages call the file; defaults to the file's base name or "checkpoint".
        max_bytes: refuse sources larger than this many bytes; None: `max_memory` bounds the size.
        max_memory: the memory the file may make wavevis allocate for tensors (stored data and
            every tensor materialised); None for no limit (expanded views still may claim at most
            the stored data again, or 64 MiB).

    Returns:
        A dict from parameter name to tensor, on the CPU.

    Raises:
        CheckpointError: the file is missing, not a regular file, too large, empty, truncated, not
            a checkpoint, claims more memory than allowed, a pickled object rather than a
            state_dict, or holds non-tensor values.
    """
    label = source_name(source, name)
    limit = max_bytes if max_bytes is not None else max_memory
    fix = "use a smaller checkpoint or raise max_bytes if you trust the file"
    data = read_limited(source, label=label, error=CheckpointError, what="the checkpoint file", limit=limit,
                        fix=fix, check_head=lambda head: _format_or_refuse(head, label))
    fmt = _format_or_refuse(data, label)
    check_claims(file_claims(data, fmt, label, max_memory=max_memory), label, max_memory=max_memory)
    obj = _load_safetensors(data, label) if fmt == "safetensors" else _load_torch(data, label)
    del data
    return _clean_state(_unwrap(obj, label), label, max_memory)


def _format_or_refuse(data: bytes, label: str) -> Format:
    """The checkpoint format of `data` (or of its first bytes); an empty or unknown one is refused."""
    if not data:
        raise CheckpointError(f"{label} is empty (0 bytes): save the weights again with torch.save")
    fmt = checkpoint_format(data)
    if fmt is None:
        raise CheckpointError(
            f"{label} is not a PyTorch (.pt/.pth) or safetensors checkpoint (unrecognised content): "
            "give a file written by torch.save(model.state_dict(), …) or safetensors"
        )
    return fmt


def source_name(source: Source, name: str | None = None) -> str:
    """How messages call a checkpoint source: `name`, else the file's base name, else "checkpoint"
    (escaped: control characters never reach a message raw)."""
    if name:
        return escape(name)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return escape(os.path.basename(path) or path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "checkpoint"
    return escape(os.path.basename(str(getattr(source, "name", "") or ""))) or "checkpoint"


def _load_torch(data: bytes, label: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4"; the result is what counts
            return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise _refusal(label, str(exc)) from None
    except EOFError:
        raise CheckpointError(f"{label} is truncated (ends early): copy or download it again") from None
    except Exception as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise CheckpointError(
            f"{label} is not a readable PyTorch checkpoint ({reason}): it may be truncated "
            "or corrupt, copy or save it again"
        ) from None


def _refusal(label: str, message: str) -> CheckpointError:
    """One line for torch's multi-paragraph weights-only refusal."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return CheckpointError(
            f"{label} is a pickled object, not a state_dict (it needs {found.group(1)}): refused "
            "without running it (save model.state_dict() instead)"
        )
    if re.search(r"truncated|EOF|ran out of input", message, re.IGNORECASE):
        return CheckpointError(f"{label} is truncated (ends early): copy or download it again")
    return CheckpointError(
        f"{label} is a pickled object, not a state_dict: refused without running it "
        "(save model.state_dict() instead)"
    )


def _load_safetensors(data: bytes, label: str) -> object:
    from safetensors.torch import load as load_safetensors

    try:
        return load_safetensors(data)
    except Exception as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise CheckpointError(
            f"{label} is not a readable safetensors file ({reason}): it may be truncated "
            "or corrupt, copy or save it again"
        ) from None


def _type_name(obj: object) -> str:
    return type(obj).__name__


def _is_tensor_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _unwrap(obj: object, label: str) -> Mapping:
    """The state_dict inside a training checkpoint's wrapper dicts."""
    for _ in range(4):  # {"model": {"state_dict": …}} at most a few levels deep
        if not isinstance(obj, Mapping):
            raise CheckpointError(
                f"{label} holds a {_type_name(obj)}, not a state_dict: save model.state_dict() instead"
            )
        if _is_tensor_dict(obj):
            return obj
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            return obj  # _clean_state names the offending entry
        obj = inner
    return obj


def _strip_prefixes(key: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for prefix in STRIP_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    return key


def _overlapping(t: torch.Tensor) -> bool:
    """True for expanded views: several elements share one memory location."""
    return any(stride == 0 and size > 1 for stride, size in zip(t.stride(), t.shape))


def _clean_state(
    state: object, label: str, max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> dict[str, torch.Tensor]:
    """Validate a mapping of name → tensor; strip prefixes; own, contiguous, CPU tensors.

    What the copies will take is checked against `max_memory` (and the expansion rule of
    `claims.check_claims`) before any tensor is copied."""
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{label} holds a {_type_name(state)}, not a state_dict: save model.state_dict() instead"
        )
    if not state:
        raise CheckpointError(f"{label} holds no tensors: save model.state_dict() of a model with parameters")
    wrapped = [k for k in WRAPPER_KEYS if k in state]
    check_claims(state_claims(state), label, max_memory=max_memory)
    clean: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}  # cleaned name → key as saved
    storages: set[int] = set()
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointError(
                f"{label} has a {_type_name(key)} key {key!r}; state_dict keys are strings: "
                "save model.state_dict() instead"
            )
        if not isinstance(value, torch.Tensor):
            hint = (
                f"; its {wrapped[0]!r} entry is not a dict of tensors" if wrapped else
                f"; top-level keys: {_short_list(list(state))}"
            )
            raise CheckpointError(
                f"{label}: {key!r} is a {_type_name(value)}, not a tensor{hint} — save "
                "model.state_dict() (or wrap it as {'state_dict': …})"
            )
        kind = (
            "a nested tensor" if value.is_nested
            else f"a {value.layout} tensor" if value.layout != torch.strided
            else "a quantized tensor" if value.is_quantized
            else "a tensor without data (meta)" if value.is_meta
            else None
        )
        if kind:
            raise CheckpointError(
                f"{label}: {key!r} is {kind}: save the dense weights of an unquantised model "
                "(model.state_dict())"
            )
        name = _strip_prefixes(key)
        if name in clean:
            raise CheckpointError(
                f"{label} has both {origin[name]!r} and {key!r} (the same after stripping "
                f"{'/'.join(STRIP_PREFIXES)}): save one model's state_dict"
            )
        origin[name] = key
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        whole = t.untyped_storage().nbytes() == t.numel() * t.element_size()
        shared = bool(ptr) and ptr in storages  # tied weights: give each key its own copy
        if not t.is_contiguous() or _overlapping(t) or t.storage_offset() or not whole or shared:
            t = t.clone(memory_format=torch.contiguous_format)
            ptr = t.untyped_storage().data_ptr() if t.numel() else 0
        if ptr:
            storages.add(ptr)
        if type(t) is not torch.Tensor:  # nn.Parameter or another subclass
            t = t.as_subclass(torch.Tensor)
        clean[name] = t
    return clean


def _short_list(items: list[str], limit: int = _LIST_KEYS) -> str:
    shown = ", ".join(escape(str(item)) for item in items[:limit])
    return shown + (", …" if len(items) > limit else "")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


ShapeMismatch = tuple[str, tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class LoadReport:
    """What loading a checkpoint into a model did, and what looked wrong.

    Attributes:
        source: how the checkpoint is called in messages (file name).
        model: how the model is called in messages (spec or class name).
        loaded: keys whose tensors were copied into the model.
        missing: model keys the checkpoint lacks (left as they were).
        unexpected: checkpoint keys the model lacks (ignored).
        shape_mismatches: (key, checkpoint shape, model shape) for keys left unloaded.
        filter_warnings: wavelet-pool filters that are not the wavelet they claim to be.
        nonfinite: checkpoint keys holding NaN or Inf (loaded anyway).
        filter_notes: wavelet-pool filters that hold their band up to sign or flip, which changes
            no energy (not a problem: `ok` ignores them).
    """

    source: str
    model: str
    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shape_mismatches: tuple[ShapeMismatch, ...] = ()
    filter_warnings: tuple[str, ...] = ()
    nonfinite: tuple[str, ...] = ()
    filter_notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every tensor fit and nothing looked wrong."""
        return not (self.missing or self.unexpected or self.shape_mismatches
                    or self.filter_warnings or self.nonfinite)

    def summary(self) -> str:
        """One line: how much loaded and how many problems of each kind."""
        head = f"{self.source} → {self.model}: {len(self.loaded)} tensors loaded"
        parts = [
            f"{len(items)} {what}"
            for items, what in (
                (self.missing, "missing"), (self.unexpected, "unexpected"),
                (self.shape_mismatches, "shape mismatch" + ("es" if len(self.shape_mismatches) > 1 else "")),
                (self.nonfinite, "with NaN/Inf"),
                (self.filter_warnings, "filter warning" + ("s" if len(self.filter_warnings) > 1 else "")),
            )
            if items
        ]
        return head + ("; " + ", ".join(parts) if parts else ", no problems found")

    def lines(self) -> list[str]:
        """The summary, then one readable line per problem, then the filter notes."""
        out = [self.summary()]
        out += [f"missing from the checkpoint (left as initialised): {k}" for k in self.missing]
        out += [f"not in the model (ignored): {escape(k)}" for k in self.unexpected]
        out += [
            f"shape mismatch (not loaded): {k} is {_shape(c)} in the checkpoint, {_shape(m)} in the model"
            for k, c, m in self.shape_mismatches
        ]
        out += [f"{escape(k)} contains NaN or Inf values" for k in self.nonfinite]
        out += list(self.filter_warnings)
        out += list(self.filter_notes)
        return out


def _misfit_hint(
    missing: list[str], unexpected: list[str], mismatches: list[ShapeMismatch],
    model: nn.Module,
) -> str:
    """What the misfit probably means, as a fix to try."""
    if mismatches and not missing and not unexpected:
        owners = {k.rsplit(".", 1)[0] for k, _, _ in mismatches}
        if len(owners) == 1:
            owner = next(iter(owners))
            module = dict(model.named_modules()).get(owner)
            by_key = {k: (c, m) for k, c, m in mismatches}
            weight = by_key.get(f"{owner}.weight")
            if isinstance(module, nn.Linear) and weight and weight[0][1:] == weight[1][1:]:
                n = weight[0][0]
                return f"it was trained for {n} classes: use --num-classes {n} (num_classes={n}; Classes in the app)"
        # Conv weights whose input channels differ by 4×: the pool variant that concatenates bands.
        ratios = {
            c[1] / m[1] if len(c) == len(m) == 4 and m[1] and c[0] == m[0] and c[2:] == m[2:] else None
            for _, c, m in mismatches
        }
        if ratios == {4.0}:
            return "it looks saved from the all-subband pool: try --pool wave-cat"
        if ratios == {0.25}:
            return "it looks saved from a one-band pool: try --pool wave-ll, max or avg"
    band_key = re.compile(r"(^|\.)(LL|LH|HL|HH)\.weight$")
    if mismatches and not missing and not unexpected and all(
        band_key.search(k) and len(c) == 4 and c[1] == c[0] > 1 and m[1] == 1 for k, c, m in mismatches
    ):
        return (
            "its wavelet filters are full CxC convs, saved by a get_wav without groups=in_channels: "
            "load it into the code that saved it (a file.py:Name spec)"
        )
    if missing and not unexpected and not mismatches and all(band_key.search(k) for k in missing):
        return "it has no wavelet-pool filters: was it saved with --pool max or avg?"
    if unexpected and not missing and not mismatches and all(band_key.search(k) for k in unexpected):
        return "it has wavelet-pool filters the model lacks: was it saved with --pool wave-ll?"
    return "is it for another model or pool variant?"


def _misfit_message(
    source: str, model_name: str, missing: list[str], unexpected: list[str],
    mismatches: list[ShapeMismatch], model: nn.Module,
) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_short_list(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_short_list(unexpected)})")
    if mismatches:
        shown = ", ".join(f"{k} {_shape(c)} vs {_shape(m)}" for k, c, m in mismatches[:_LIST_KEYS])
        more = ", …" if len(mismatches) > _LIST_KEYS else ""
        word = "shape mismatch" + ("es" if len(mismatches) > 1 else "")
        parts.append(f"{len(mismatches)} {word} ({shown}{more})")
    hint = _misfit_hint(missing, unexpected, mismatches, model)
    return f"{source} does not fit {model_name}: {', '.join(parts)} — {hint}"


_FINITE_CHUNK = 1 << 20  # elements converted at a time for dtypes torch cannot sum (float8, complex32)


def _all_finite(t: torch.Tensor, key: str, source: str) -> bool:
    """No NaN/Inf in `t`. A finite sum proves it (NaN and Inf propagate) at a fraction of the cost.

    Dtypes torch cannot sum or test (float8, complex32) are converted to float32 a chunk at a time;
    one that cannot even be converted (bit-packed float4, raw bits) is refused in one line.
    """
    if not (t.is_floating_point() or t.is_complex()):
        return True
    try:
        return bool(torch.isfinite(t.sum()).all()) or bool(torch.isfinite(t).all())
    except (NotImplementedError, RuntimeError):
        pass
    flat = t.reshape(-1)
    wide = torch.complex64 if t.is_complex() else torch.float32
    try:
        return all(
            bool(torch.isfinite(flat[i:i + _FINITE_CHUNK].to(wide)).all()) for i in range(0, flat.numel(), _FINITE_CHUNK)
        )
    except (NotImplementedError, RuntimeError):
        raise CheckpointError(
            f"{source}: {escape(key)} has dtype {str(t.dtype).removeprefix('torch.')}, which wavevis cannot "
            "read: save float32, float16 or bfloat16 weights"
        ) from None


def _materialize_expanded(model: nn.Module) -> None:
    """Give expanded (stride-0) parameters their own memory so that loading can write them.

    The posted `get_wav` sets its filters with `.expand(...)`; `load_state_dict` cannot copy into
    such a view ("more than one element of the written-to tensor refers to a single memory
    location"). Values are unchanged.
    """
    for module in model.modules():
        for name, tensor in list(module._parameters.items()) + list(module._buffers.items()):
            if tensor is not None and _overlapping(tensor):
                tensor.data = tensor.data.clone(memory_format=torch.contiguous_format)


def _filter_warnings_and_notes(
    model: nn.Module, state: Mapping[str, torch.Tensor],
) -> tuple[list[str], list[str]]:
    """Warnings for wavelet-pool filters that are not the wavelet's analysis filters, and notes for
    those that hold their band up to sign or flip (harmless, as the `filters` sanity check says)."""
    found: list[str] = []
    notes: list[str] = []
    for mname, module in wavelet_pools(model):
        prefix = f"{mname}." if mname else ""
        carried = any(f"{prefix}{band}.weight" in state for band in SUBBANDS)
        if not (isinstance(module, WavePool2d) or carried):
            continue
        wavelet = getattr(module, "wavelet", "haar")
        wavelet = wavelet if isinstance(wavelet, str) else "haar"
        try:
            kernels = analysis_filters(wavelet, dtype=torch.float64)  # (4, 1, F, F)
        except ValueError:
            continue
        bank = kernels[:, 0].numpy()
        for index, band in enumerate(SUBBANDS):
            key = f"{prefix}{band}.weight"
            weight = getattr(module, band).weight.detach().to("cpu", torch.float64)
            expected_shape = (weight.shape[0], 1, *kernels.shape[-2:])
            if tuple(weight.shape) != expected_shape:
                found.append(
                    f"{key} has shape {_shape(tuple(weight.shape))}, not a depthwise {wavelet} "
                    f"filter {_shape(expected_shape)} (is groups=channels missing?)"
                )
                continue
            # Which band it holds, up to sign and flip, matched as the `filters` sanity check does
            # (when every channel holds the same kernel).
            uniform = kernel_spread(weight[:, 0].numpy()) <= UNIFORM_TOL
            match = match_band(weight[0, 0].numpy(), bank) if uniform else None
            if match is not None and not (match.exact and match.scale is None):
                match = None
            if match is not None and match.band == band:
                if match.sign < 0 or match.flipped:
                    notes.append(f"{key} {match.harmless_note()}")
                continue
            diff = (weight - kernels[index]).abs().max().item()
            said = "nan" if diff != diff else f"{diff:.2g}"
            message = f"{key} is not the {wavelet} {band} filter (max |diff| {said})"
            if match is not None:
                message += f"; it holds the {match.describe()} filter — are the band labels swapped?"
            found.append(message)
    return found, notes


def apply_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool = True,
    model_name: str | None = None, source: str = "checkpoint", max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> LoadReport:
    """Copy a state_dict into `model` and report what fit and what looks wrong.

    Unlike `nn.Module.load_state_dict` it never half-fails on a shape mismatch, it loads the
    stride-0 filter tensors the posted code saves (also into a model built from the posted
    code), and afterwards it checks every wavelet pool's filters against the wavelet's analysis
    filters and every tensor for NaN/Inf (reported, still loaded).

    Args:
        model: the model to fill (modified in place).
        state: parameter name → tensor, e.g. from `read_state_dict`.
        strict: raise unless every key and shape fits; False loads what fits and reports the rest.
        model_name: how messages call the model; defaults to its class name.
        source: how messages call the checkpoint.
        max_memory: what copying `state`'s tensors may allocate (see `read_state_dict`).

    Returns:
        The LoadReport.

    Raises:
        CheckpointError: `state` is not a dict of tensors, or (strict) keys/shapes do not fit.
    """
    model_name = model_name or type(model).__name__
    source = escape(source)
    clean = _clean_state(state, source, max_memory)
    expected = model.state_dict()
    missing = [k for k in expected if k not in clean]
    unexpected = [k for k in clean if k not in expected]
    mismatches = [
        (k, tuple(t.shape), tuple(expected[k].shape))
        for k, t in clean.items() if k in expected and t.shape != expected[k].shape
    ]
    if strict and (missing or unexpected or mismatches):
        raise CheckpointError(_misfit_message(source, model_name, missing, unexpected, mismatches, model))
    mismatched = {k for k, _, _ in mismatches}
    loadable = {k: t for k, t in clean.items() if k in expected and k not in mismatched}
    for key, t in loadable.items():
        if t.is_complex() and not expected[key].is_complex():
            raise CheckpointError(
                f"{source}: {key} is {t.dtype} but {model_name} expects {expected[key].dtype}: "
                "save real-valued weights"
            )
    nonfinite = [k for k, t in clean.items() if not _all_finite(t, k, source)]
    _materialize_expanded(model)
    try:
        with torch.no_grad():
            model.load_state_dict(loadable, strict=False)
    except Exception as exc:
        reason = one_line(exc, with_type=False, first_sentence=True, limit=160)
        raise CheckpointError(
            f"loading {source} into {model_name} failed ({reason}): check that the "
            "checkpoint matches the model"
        ) from None
    filter_warnings, filter_notes = _filter_warnings_and_notes(model, clean)
    return LoadReport(
        source=source,
        model=model_name,
        loaded=tuple(loadable),
        missing=tuple(missing),
        unexpected=tuple(unexpected),
        shape_mismatches=tuple(mismatches),
        filter_warnings=tuple(filter_warnings),
        nonfinite=tuple(nonfinite),
        filter_notes=tuple(filter_notes),
    )
