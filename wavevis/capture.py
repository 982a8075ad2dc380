"""Forward hooks that turn every conv, activation and pooling call of a model into statistics records."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from .errors import AnalysisError, escape, one_line, reraise_interrupts
from .pooling import WavePool2d, band_attributes, is_wavelet_pool, wavelet_pool_subbands, wavelet_pools
from .probe import probe_energies
from .records import Bands, CallInfo, Kind
from .sites import ModelPools, PoolCall, find_pools
from .stats import ChannelStats, as_chw, batch_stats
from .torch_stats import accumulation_dtype
from .structure import output_maps
from .wavelets import SUBBANDS, Subbands, analysis_filters

__all__ = ["ACTIVATIONS", "CallRecord", "capture", "classify_module", "hookable_layers", "recorded_modules", "model_lock"]

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid,
)
_POOLS: tuple[type[nn.Module], ...] = (
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd, nn.FractionalMaxPool2d,
)

# A model shared between sessions (e.g. Streamlit's cache_resource) must not carry two
# captures' hooks at once: one capture at a time per model.
_MODEL_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def classify_module(module: nn.Module) -> Kind | None:
    """The record kind of a module, or None if its calls are not recorded."""
    if is_wavelet_pool(module):
        return "wavepool"
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, ACTIVATIONS):
        return "act"
    if isinstance(module, _POOLS):
        return "pool"
    return None


def _targets(model: nn.Module, found: ModelPools | None = None) -> list[tuple[str, nn.Module, Kind]]:
    """(dotted name, module, kind) of every module recorded by kind; wavelet pools' own modules
    excluded, and pools recognised by probing (hooked on their own)."""
    pools = [name for name, _ in wavelet_pools(model)]
    inside = {id(m) for p in (found.pools if found else ()) if p.probe is not None for m in p.module.modules()}
    targets: list[tuple[str, nn.Module, Kind]] = []
    for name, module in model.named_modules():
        if any(name.startswith(p + ".") for p in pools) or id(module) in inside:
            continue
        kind = classify_module(module)
        if kind is not None:
            targets.append((name or type(module).__name__, module, kind))
    return targets


def recorded_modules(model: nn.Module, found: ModelPools) -> list[tuple[str, nn.Module]]:
    """(name, module) of every module whose calls `capture` records, as it names them: the modules
    recorded by kind, each wavelet pool found by probing (submodule or not), and the other
    downsamplers that get a row. A hook on these sees every recorded call (its output through
    `structure.output_maps`)."""
    names = {id(p.module): p.name for p in found.pools}
    out = [(name, module) for name, module, _ in _targets(model, found)]
    out += [(names[id(m)], m) for m in found.modules if any(p.probe is not None for p in found.pools if p.module is m)]
    out += [(o.name, o.module) for o in {id(o.module): o for o in found.others if o.row}.values()]
    return out


def hookable_layers(model: nn.Module) -> list[tuple[str, Kind]]:
    """(dotted name, kind) of every module whose calls are recorded, in definition order.

    The fixed filter convs inside a wavelet pool belong to the pool and are not listed.
    """
    return [(name, kind) for name, _, kind in _targets(model)]


@dataclass
class CallRecord:
    """Statistics of one call for every image of the batch; wavelet pools also get input bands."""

    info: CallInfo
    stats: list[ChannelStats]
    in_bands: list[np.ndarray] | None = None  # per image (C, 4) energies of the pool's input bands
    in_ac: list[np.ndarray] | None = None  # per image (C,) energy of the pool's input about its channel means
    passes: Bands | None = None  # bands a wavelet pool passes on; None if unrecognised
    maps: torch.Tensor | None = None  # (B, C, H, W) output, when kept
    pool_input: torch.Tensor | None = None  # (B, C, H, W) input of a wavelet pool, when kept
    in_levels: list[np.ndarray] | None = None  # per image (C, J, 4) energies of each level's bands
    pool: PoolCall | None = None  # the wavelet pool call, as found (its module, probe, bands used)
    note: str | None = None  # what a downsampling layer is, when it is no wavelet pool


def _is_exact_haar(module: nn.Module) -> bool:
    """True for our WavePool2d whose four filters are (still) exactly the depthwise Haar bank."""
    if not isinstance(module, WavePool2d) or module.wavelet != "haar":
        return False
    bank = analysis_filters("haar", dtype=module.LL.weight.dtype)
    return all(
        getattr(module, name).weight.shape == (module.channels, 1, 2, 2)
        and torch.equal(getattr(module, name).weight, bank[j].expand(module.channels, -1, -1, -1))
        for j, name in enumerate(SUBBANDS)
    )


def _passed_bands(module: nn.Module, out: torch.Tensor, bands: Subbands) -> Bands | None:
    """Which bands (named by orientation) the pool's output consists of: one band, all four, or None."""
    if isinstance(module, WavePool2d) and band_attributes(module) == SUBBANDS:
        return ("LL",) if module.keep == "ll" else SUBBANDS
    for name, band in zip(SUBBANDS, bands):
        if out.shape == band.shape and torch.allclose(out, band):
            return (name,)
    cat = torch.cat(tuple(bands), dim=1)
    if out.shape == cat.shape and torch.allclose(out, cat):
        return SUBBANDS
    return None


def _band_energies(bands: Subbands) -> list[np.ndarray]:
    """Per image (C, 4) float64 energies of the four bands."""
    dtype = accumulation_dtype(bands.ll.device)  # float64, but float32 on MPS
    per_band = [torch.linalg.vector_norm(b.flatten(2), dim=2, dtype=dtype).square() for b in bands]
    stacked = torch.stack(per_band, dim=-1)  # (B, C, 4)
    return [e.numpy() for e in stacked.cpu().to(torch.float64)]


def _refuse_growing_pool(name: str, x: torch.Tensor, out: torch.Tensor) -> None:
    """Stop the forward when a pooling layer makes its maps larger (e.g. a ConvTranspose2d "pool").

    The maps would keep growing with every later layer — the posted model with its `else:` lost
    reaches several GB at conv4_1 — so the analysis refuses before memory runs out.
    """
    if x.dim() < 3 or out.dim() < 3 or out.shape[-2:].numel() <= x.shape[-2:].numel():
        return
    raise AnalysisError(
        f"{name} turns {x.shape[-2]}×{x.shape[-1]} maps into {out.shape[-2]}×{out.shape[-1]}: a pooling "
        "layer that enlarges its input (a ConvTranspose2d, as when get_wav's `else:` is lost) — run "
        "`wavevis check` (or the Checks tab) and fix the pool"
    )


@dataclass
class _Capture:
    keep_maps: bool
    only: int | None = None
    found: ModelPools = field(default_factory=ModelPools)
    records: list[CallRecord] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    index: int = 0
    depth: int = 0  # wavelet pool calls open right now: calls inside one belong to it
    thread: int = field(default_factory=threading.get_ident)
    # The last recorded output, its version and stats: a Haar pool reading that very tensor
    # reuses the probe's band energies instead of transforming it again.
    last: tuple[torch.Tensor, int, list[ChannelStats]] | None = None

    def _reused_stats(self, x: torch.Tensor) -> list[ChannelStats] | None:
        if self.last is None:
            return None
        tensor, version, stats = self.last
        if tensor is not x or x._version != version or any(st.bands is None for st in stats):
            return None
        return stats

    def enter(self, module: nn.Module, inputs) -> None:
        if threading.get_ident() == self.thread:
            self.depth += 1

    def _next(self, name: str) -> tuple[int, int] | None:
        """(call number, forward index) of a recorded call; None when only another one is wanted."""
        call = self.calls.get(name, 0) + 1
        self.calls[name] = call
        index = self.index
        self.index += 1
        return call, index

    def pool_hook(self, name: str, module: nn.Module, inputs, output) -> None:
        """A call of a pool recognised by probing: its output maps, and its input's bands through its
        own recovered filters."""
        if threading.get_ident() != self.thread:
            return
        self.depth -= 1
        if self.depth > 0:
            return
        calls = self.calls.get(name, 0) + 1
        site = self.found.pool(module, calls)
        maps = output_maps(output)
        x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if site is None or site.probe is None or maps is None or maps.dim() < 2 or maps.numel() == 0 or x is None:
            self.calls[name] = calls
            return
        if isinstance(output, torch.Tensor):
            _refuse_growing_pool(name, x, output)
        call, index = self._next(name)
        if self.only is not None and index != self.only:
            return
        channels, height, width = as_chw(maps[0]).shape
        info = CallInfo(index, name, call, "wavepool", type(module).__name__, channels, height, width)
        record = CallRecord(info, [], passes=site.passes, pool=site, note=site.probe.note)
        if self.only is not None:
            record.pool_input, record.maps = x.detach().clone(), maps.detach().clone()
            self.records.append(record)
            return
        record.stats = batch_stats(maps)
        probed = self._reused_stats(x) or batch_stats(x)
        record.in_ac = [st.ac if st.ac is not None else np.zeros(st.channels) for st in probed]
        with torch.no_grad():
            levels = probe_energies(site.probe, x.detach(), wavelet=site.probe.wavelet or "haar")  # (N, C, J, 4)
        record.in_levels = list(levels)
        record.in_bands = [np.concatenate([e[:, -1, :1], e[:, :, 1:].sum(axis=1)], axis=1) for e in levels]
        if self.keep_maps:
            record.pool_input, record.maps = x.detach().clone(), maps.detach().clone()
        self.records.append(record)
        self.last = (maps, maps._version, record.stats) if isinstance(output, torch.Tensor) else None

    def hook(self, name: str, kind: Kind, exact_haar: bool, module: nn.Module, inputs, output) -> None:
        if threading.get_ident() != self.thread:
            return
        if kind == "wavepool":
            self.depth -= 1
        if self.depth > 0:
            return  # inside a wavelet pool's call: part of it
        note = None
        if kind == "pool" and not isinstance(module, _POOLS):
            other = self.found.other(module, self.calls.get(name, 0) + 1)
            note = other.probe.note if other is not None else None
            output = output_maps(output)
            if output is None:
                return
        if not isinstance(output, torch.Tensor) or output.dim() < 2 or output.numel() == 0:
            return  # nothing per image to describe (an empty output has no values)
        if kind in ("pool", "wavepool") and inputs and isinstance(inputs[0], torch.Tensor):
            _refuse_growing_pool(name, inputs[0], output)
        call, index = self._next(name)
        if self.only is not None and index != self.only:
            return
        channels, height, width = as_chw(output[0]).shape  # as the statistics see each image
        info = CallInfo(index, name, call, kind, type(module).__name__, channels, height, width)
        stats = batch_stats(output) if self.only is None else []
        record = CallRecord(info, stats, note=note)
        if kind == "wavepool" and inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
            x = inputs[0]
            if self.only is not None:  # a re-run for this call's maps: no statistics needed
                record.pool_input = x.detach().clone()
                record.maps = output.detach().clone()
                self.records.append(record)
                return
            # The input's probe (its Haar energies and spatial variation): reused when x is the
            # output just recorded, as in conv → ReLU → pool.
            probed = (self._reused_stats(x) if stats else None) or batch_stats(x)
            record.in_ac = [st.ac if st.ac is not None else np.zeros(st.channels) for st in probed]
            if exact_haar:
                # Our own Haar pool: its filters are the Haar bank, so the probe's (exact)
                # energies are its bands' energies.
                record.in_bands = [st.bands if st.bands is not None else np.zeros((st.channels, 4)) for st in probed]
                record.passes = ("LL",) if module.keep == "ll" else SUBBANDS
            else:
                bands = wavelet_pool_subbands(module, x)
                record.in_bands = _band_energies(bands)
                record.passes = _passed_bands(module, output, bands)
            if self.keep_maps:
                record.pool_input = x.detach().clone()
        if self.keep_maps:
            # Cloned now: an in-place activation after this layer would overwrite the output.
            record.maps = output.detach().clone()
        self.records.append(record)
        self.last = (output, output._version, stats)


def _failing_layer(model: nn.Module, exc: BaseException) -> str | None:
    """The innermost named module of `model` whose code the exception passed through."""
    names = {id(m): n for n, m in model.named_modules() if n}
    layer = None
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in names:
            layer = f"{names[id(owner)]} ({type(owner).__name__})"
        tb = tb.tb_next
    return layer


def _forward_failed(model: nn.Module, x: torch.Tensor, exc: BaseException) -> AnalysisError:
    """One line for a forward pass that raised: the layer, the input's shape, the exception."""
    shape = "x".join(str(s) for s in x.shape)
    layer = _failing_layer(model, exc)
    where = f" in {escape(layer)}" if layer else ""
    if isinstance(exc, SystemExit):
        return AnalysisError(
            f"the model's forward pass called sys.exit({escape(repr(exc.code))}){where} on a {shape} input: "
            "a model must raise an exception, not exit; fix its forward"
        )
    return AnalysisError(
        f"the model's forward pass failed{where} on a {shape} input ({one_line(exc)}): "
        "check that the model takes 3-channel images of this size"
    )


def model_lock(model: nn.Module) -> threading.Lock:
    """The lock that serialises captures (and direct pool probes) on one model across threads."""
    with _LOCKS_GUARD:
        return _MODEL_LOCKS.setdefault(model, threading.Lock())


def capture(
    model: nn.Module, x: torch.Tensor, *, keep_maps: bool = False, only: int | None = None,
    pools: Sequence[str] | None = None,
) -> list[CallRecord]:
    """Run `model(x)` once under no_grad and record every conv, activation and pooling call.

    Wavelet pools are found by behaviour first (`sites.find_pools`: once per model, cached), so
    pools that are no submodule, that return tuples or that store no filters are recorded too.

    Args:
        model: any nn.Module; it is run as it is (call `.eval()` first for inference behaviour).
        x: the batch, e.g. (B, 3, H, W).
        keep_maps: keep a copy of every call's output (and every wavelet pool's input).
        only: record just the call with this forward index, keeping its maps and no statistics.
        pools: names of layers to treat as wavelet pools whatever their filters (`--pool-layer`).

    Returns:
        One CallRecord per recorded call, in forward order.

    Raises:
        AnalysisError: the forward pass raised (every hook is removed first), or a name in `pools`
            is no linear 2× downsampler.
    """
    with model_lock(model):
        found = find_pools(model, x, pools=pools)
        state = _Capture(keep_maps=keep_maps or only is not None, only=only, found=found)
        names = {id(p.module): p.name for p in found.pools}
        handles = []
        try:
            for name, module, kind in _targets(model, found):
                exact = kind == "wavepool" and _is_exact_haar(module)
                if kind == "wavepool":
                    handles.append(module.register_forward_pre_hook(state.enter))
                handles.append(module.register_forward_hook(partial(state.hook, name, kind, exact)))
            for module in found.modules:
                if any(p.probe is not None for p in found.pools if p.module is module):
                    handles.append(module.register_forward_pre_hook(state.enter))
                    handles.append(module.register_forward_hook(partial(state.pool_hook, names[id(module)])))
            for other in {id(o.module): o for o in found.others if o.row}.values():
                handles.append(other.module.register_forward_hook(partial(state.hook, other.name, "pool", False)))
            with torch.no_grad():
                model(x)
        except AnalysisError:
            raise
        except BaseException as exc:  # the user's model may raise anything, SystemExit included
            reraise_interrupts(exc)
            raise _forward_failed(model, x, exc) from None
        finally:
            for handle in handles:
                handle.remove()
    return state.records
