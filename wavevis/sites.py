"""Where a model calls wavelet pools: one discovery forward, probes cached per model, overrides, and the bands the model uses."""

from __future__ import annotations

import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from .errors import AnalysisError, reraise_interrupts
from .pooling import is_wavelet_pool, wavelet_pools
from .probe import Probe, probe_module
from .records import Bands
from .structure import level_of, output_leaves, replace_leaves
from .bandkernels import band_label
from .wavelets import SUBBANDS

__all__ = ["Downsampler", "ModelPools", "PoolCall", "cached_pools", "describe", "find_pools", "module_names", "pools_for", "returned_bands"]


@dataclass(frozen=True, eq=False)
class PoolCall:
    """One wavelet pool call of a model (the outermost, when pools nest).

    Attributes:
        name: the module's dotted name, or the name it has where it is kept (a module-level global).
        module: the pool.
        call: which of the module's (outermost) pool calls, from 1.
        probe: what probing found; None for a pool with LL/LH/HL/HH conv attributes returning one
            tensor, which is read from its convs (as before probing existed).
        passes: the bands the model uses, decided from the model (a band whose change never reaches
            the model's output is discarded); None when decided from the output per call.
        forced: named by the user (`pools=` / `--pool-layer`) rather than recognised.
    """

    name: str
    module: nn.Module
    call: int
    probe: Probe | None
    passes: Bands | None
    forced: bool = False


@dataclass(frozen=True, eq=False)
class Downsampler:
    """A module call that makes its maps smaller but is no wavelet pool, and what it is instead.

    `row` is True for linear downsamplers (PixelUnshuffle, strided slicing, blur + subsample): their
    calls are recorded as ordinary pooling rows with `probe.note` as their note.
    """

    name: str
    module: nn.Module
    call: int
    probe: Probe
    row: bool


@dataclass(frozen=True, eq=False)
class ModelPools:
    """Every wavelet pool call and every other downsampling call a model makes."""

    pools: tuple[PoolCall, ...] = ()
    others: tuple[Downsampler, ...] = ()

    def pool(self, module: nn.Module, call: int) -> PoolCall | None:
        return next((p for p in self.pools if p.module is module and p.call == call), None)

    def other(self, module: nn.Module, call: int) -> Downsampler | None:
        return next((o for o in self.others if o.module is module and o.call == call and o.row), None)

    @property
    def modules(self) -> list[nn.Module]:
        """Each pool module once, in first-call order."""
        return list({id(p.module): p.module for p in self.pools}.values())


_CACHE: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, ModelPools]] = weakref.WeakKeyDictionary()
_PROBES: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Probe]] = weakref.WeakKeyDictionary()


def _state(modules: Sequence[nn.Module]) -> tuple:
    """Identity and version of every parameter and buffer: changes when weights are loaded or edited."""
    out = []
    for module in modules:
        for t in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
            out.append((id(t), t.data_ptr(), t._version))
    return tuple(out)


def _torch_layer(module: nn.Module) -> bool:
    """torch's own layers (convs, pools, activations, containers …) are never probed unless named."""
    return type(module).__module__.startswith("torch.nn.modules") and not isinstance(module, nn.PixelUnshuffle)


def module_names(model: nn.Module, extra: Sequence[nn.Module] = ()) -> dict[int, str]:
    """id(module) → name: dotted names of submodules, then where other modules are kept (attributes
    holding plain lists/dicts of modules, module-level globals of the model's code)."""
    names = {id(m): (n or type(m).__name__) for n, m in model.named_modules()}
    missing = {id(m): m for m in extra if id(m) not in names}
    if not missing:
        return names
    for owner_name, owner in model.named_modules():
        for attr, value in vars(owner).items():
            items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
            for key, item in items:
                if id(item) in missing:
                    name = ".".join(p for p in (owner_name, attr) if p) + (f"[{key!r}]" if key is not None else "")
                    names[id(item)] = name
                    missing.pop(id(item))
    codes = {type(m).__module__ for m in model.modules()}
    for code in codes:
        namespace = vars(sys.modules[code]) if code in sys.modules else {}
        for attr, value in list(namespace.items()):
            if id(value) in missing:
                names[id(value)] = attr
                missing.pop(id(value))
    for key, module in missing.items():
        base = type(module).__name__
        taken = set(names.values())
        names[key] = base if base not in taken else next(f"{base}#{i}" for i in range(2, 10**6) if f"{base}#{i}" not in taken)
    return names


@dataclass
class _Seen:
    module: nn.Module
    seq: int  # the call's order of completion
    enclosing: tuple[int, ...]  # seq-less ids of the calls open around it: (id(module), open index)
    open_index: int
    like: torch.Tensor  # (1, C, 1, 1) of the input's dtype and device
    size: tuple[int, int]
    single: bool  # the output is one tensor


def _observe(model: nn.Module, x: torch.Tensor, forced: set[int]) -> list[_Seen] | None:
    """Every call whose output holds maps 2^-j of its input's size, in completion order (None if the
    forward pass raised: the capture that follows reports it)."""
    thread = threading.get_ident()
    stack: list[tuple[nn.Module, int]] = []
    opened = [0]
    seen: list[_Seen] = []

    def pre(module, inputs):
        if threading.get_ident() == thread:
            opened[0] += 1
            stack.append((module, opened[0]))

    def post(module, inputs, output):
        if threading.get_ident() != thread or not stack:
            return
        _, index = stack.pop()
        x_in = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if x_in is None or x_in.dim() != 4 or not x_in.is_floating_point():
            return
        if is_wavelet_pool(module) and isinstance(output, torch.Tensor) and output.dim() == 4 \
                and output.shape[-2:].numel() > x_in.shape[-2:].numel():
            raise _Stop  # a "pool" that enlarges its maps: every later layer would grow (the capture refuses it)
        if _torch_layer(module) and id(module) not in forced:
            return
        h, w = x_in.shape[-2:]
        small = any(t.dim() >= 3 and level_of(h, t.shape[-2]) and level_of(w, t.shape[-1])
                    for _, _, t in output_leaves(output))
        if not small and id(module) not in forced:
            return
        like = torch.zeros(1, x_in.shape[1], 1, 1, dtype=x_in.dtype, device=x_in.device)
        seen.append(_Seen(module, len(seen), tuple(i for _, i in stack), index, like, (h, w),
                          isinstance(output, torch.Tensor)))

    handles = [nn.modules.module.register_module_forward_pre_hook(pre),
               nn.modules.module.register_module_forward_hook(post)]
    try:
        with torch.no_grad():
            model(x)
    except _Stop:
        pass
    except BaseException as exc:  # noqa: BLE001 - the capture's own forward reports the failure
        reraise_interrupts(exc)
        return None
    finally:
        for h in handles:
            h.remove()
    return seen


class _Stop(Exception):
    """Ends the discovery forward early, at a pool that makes its maps larger."""


def _probe(module: nn.Module, seen: _Seen) -> Probe:
    key = (seen.like.shape[1], seen.like.dtype, seen.like.device, _state(list(module.modules())))
    cache = _PROBES.setdefault(module, {})
    if key not in cache:
        cache.clear()
        cache[key] = probe_module(module, seen.like, size=seen.size)
    return cache[key]


def _order(label: str) -> tuple[int, str, int]:
    """LL first, then the details level by level, each level in SUBBANDS order."""
    return (0 if label == "LL" else 1, label[2:], SUBBANDS.index(label[:2]))


def _groups(probe: Probe) -> dict[str, list[tuple[int, int]]]:
    """Band label → (leaf, map) of its maps in the output, labels in `_order`."""
    out: dict[str, list[tuple[int, int]]] = {}
    for bank in probe.banks:
        for m, band in enumerate(bank.bands):
            out.setdefault(band_label(band, bank.level, probe.levels), []).append(bank.maps[m])
    return {label: out[label] for label in sorted(out, key=_order)}


def _flat_output(out: object) -> torch.Tensor:
    leaves = [t.detach().double().flatten() for _, _, t in output_leaves(out) if t.is_floating_point()]
    return torch.cat(leaves) if leaves else torch.zeros(0)


def _used_bands(model: nn.Module, x: torch.Tensor, calls: list[PoolCall]) -> dict[int, Bands | None]:
    """For pool calls returning several bands: the bands whose perturbation reaches the model's output."""
    todo = [(i, p) for i, p in enumerate(calls) if p.probe is not None and len(_groups(p.probe)) > 1]
    if not todo:
        return {}
    try:
        with torch.no_grad():
            base = _flat_output(model(x))
    except BaseException as exc:  # noqa: BLE001
        reraise_interrupts(exc)
        return {}
    scale = float(base.abs().max()) if base.numel() else 0.0
    result: dict[int, Bands | None] = {}
    for i, pool in todo:
        groups = _groups(pool.probe)
        paths = [leaf.path for leaf in pool.probe.leaves]
        used: list[str] = []
        for label, where in groups.items():
            maps_by_leaf: dict[tuple, list[int]] = {}
            for leaf, k in where:
                maps_by_leaf.setdefault(paths[leaf], []).append(k)
            changed = _perturbed(model, x, pool, maps_by_leaf, base, scale)
            if changed is None:
                result[i] = None
                break
            if changed:
                used.append(label)
        else:
            result[i] = tuple(used)
    return result


def _perturbed(model: nn.Module, x: torch.Tensor, pool: PoolCall, maps_by_leaf: dict[tuple, list[int]],
               base: torch.Tensor, scale: float) -> bool | None:
    """Does adding noise to these maps of this call change the model's output? None if it fails."""
    count = [0]
    gen = torch.Generator().manual_seed(7)

    def change(path: tuple, t: torch.Tensor) -> torch.Tensor:
        maps = maps_by_leaf.get(path)
        if not maps:
            return t
        flat = t.reshape(t.shape[0], -1, *t.shape[-2:]).clone()
        noise = torch.randn(flat[:, maps].shape, generator=gen, dtype=torch.float64)
        flat[:, maps] += (noise * (1.0 + float(flat.abs().max()))).to(flat.dtype).to(flat.device)
        return flat.reshape(t.shape)

    def hook(module, inputs, output):
        count[0] += 1
        if count[0] == pool.call:
            return replace_leaves(output, change)
        return None

    handle = pool.module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            y = _flat_output(model(x))
    except BaseException as exc:  # noqa: BLE001
        reraise_interrupts(exc)
        return None
    finally:
        handle.remove()
    if y.shape != base.shape:
        return True
    return bool(float((y - base).abs().max()) > 1e-6 * max(scale, 1e-12))


def _resolve(model: nn.Module, names: Sequence[str], seen: list[_Seen], known: dict[int, str]) -> set[int]:
    """Module ids the user named as pools; a name matching no module is an error naming the choices."""
    ids = set()
    by_name = {n: i for i, n in known.items()}
    for name in names:
        if name in by_name:
            ids.add(by_name[name])
            continue
        try:
            ids.add(id(model.get_submodule(name)))
        except AttributeError:
            smaller = sorted({known[id(s.module)] for s in seen if id(s.module) in known})
            hint = f"layers that make their maps smaller: {', '.join(smaller)}" if smaller else "see `wavevis stats` for the layer names"
            raise AnalysisError(f"--pool-layer {name}: the model has no layer of that name ({hint})") from None
    return ids


def _forced_error(name: str, probe: Probe | None, size: str) -> AnalysisError:
    if probe is None:
        return AnalysisError(f"--pool-layer {name}: {name} is never called on 4-D maps in the forward pass: "
                             "name a layer that pools feature maps")
    return AnalysisError(f"--pool-layer {name}: {name} is not a linear 2× downsampler ({probe.note}{size}): "
                         "name a wavelet pooling layer, or drop the option to let wavevis find them")


def find_pools(model: nn.Module, x: torch.Tensor, *, pools: Sequence[str] | None = None) -> ModelPools:
    """The model's wavelet pool calls and other downsampling calls, probed once per model.

    One forward pass on x's first image sees every module call (submodules or not, via a global
    forward hook); each call whose output holds maps at 2^-j of its input's size is probed once per
    (module, channels, dtype) and cached with the module. The result is cached with the model until
    its parameters or buffers change. The caller holds the model's capture lock.

    Args:
        model: the model.
        x: an input batch.
        pools: names of layers to treat as wavelet pools whatever their filters.

    Returns:
        The ModelPools; conv-attribute pools alone when the forward pass fails.

    Raises:
        AnalysisError: a name in `pools` is no layer, or no linear 2× downsampler.
    """
    names = tuple(pools or ())
    cached = _CACHE.get(model)
    state = _state(list(model.modules()))
    if cached is not None and cached[0][:2] == (names, (x.shape[1], x.dtype, x.device)):
        extra = _state([m for p in cached[1].pools for m in p.module.modules()])
        if cached[0][2:] == (state, extra):
            return cached[1]
    found = _discover(model, x[:1], names)
    if found is None:
        return ModelPools(tuple(PoolCall(n or type(m).__name__, m, 1, None, None) for n, m in wavelet_pools(model)))
    extra = _state([m for p in found.pools for m in p.module.modules()])
    _CACHE[model] = ((names, (x.shape[1], x.dtype, x.device), state, extra), found)
    return found


def _discover(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> ModelPools | None:
    known = {id(m): (n or type(m).__name__) for n, m in model.named_modules()}
    forced = {id(m) for n, m in model.named_modules() if n in names}
    seen = _observe(model, x, forced)
    if seen is None:
        if names:
            _resolve(model, names, [], known)
        return None
    known = module_names(model, [s.module for s in seen])
    forced = _resolve(model, names, seen, known) if names else set()
    for fid in forced:
        if not any(id(s.module) == fid for s in seen):
            raise _forced_error(known.get(fid, "?"), None, "")
    probes: dict[int, Probe | None] = {}
    is_pool: dict[int, bool] = {}
    for s in sorted(seen, key=lambda s: s.open_index):  # outer calls first
        if any(is_pool.get(i, False) for i in s.enclosing) and id(s.module) not in forced:
            continue  # part of a pool already found: no need to probe it
        if is_wavelet_pool(s.module) and s.single:
            p = None  # read from its convs
        else:
            p = _probe(s.module, s)
        probes[s.seq] = p
        if id(s.module) in forced and (p is None or not p.linear_downsampler) and not is_wavelet_pool(s.module):
            raise _forced_error(known[id(s.module)], p, f"; {s.size[0]}×{s.size[1]} input")
        is_pool[s.open_index] = p is None or p.is_pool or id(s.module) in forced or is_wavelet_pool(s.module)
    outer_pools: list[PoolCall] = []
    others: list[Downsampler] = []
    counts: dict[int, int] = {}
    other_counts: dict[int, int] = {}
    for s in sorted(seen, key=lambda s: s.open_index):
        if any(is_pool.get(i, False) for i in s.enclosing):
            continue  # part of an enclosing pool
        p = probes[s.seq]
        if is_pool[s.open_index]:
            counts[id(s.module)] = counts.get(id(s.module), 0) + 1
            outer_pools.append(PoolCall(known[id(s.module)], s.module, counts[id(s.module)], p,
                                        None if p is None else returned_bands(p), id(s.module) in forced))
        elif p is not None:
            other_counts[id(s.module)] = other_counts.get(id(s.module), 0) + 1
            others.append(Downsampler(known[id(s.module)], s.module, other_counts[id(s.module)], p,
                                      p.linear_downsampler))
    used = _used_bands(model, x, outer_pools)
    final = tuple(
        PoolCall(p.name, p.module, p.call, p.probe, used.get(i, p.passes), p.forced) for i, p in enumerate(outer_pools)
    )
    return ModelPools(final, tuple(others))


def returned_bands(probe: Probe) -> Bands:
    """The bands a probed pool returns, in `passes` names and order."""
    return tuple(sorted({band_label(b, level, probe.levels) for level, b in probe.returned()}, key=_order))


def cached_pools(model: nn.Module) -> ModelPools | None:
    """What the last `find_pools` on this model found (whatever its input), if anything."""
    cached = _CACHE.get(model)
    return cached[1] if cached is not None else None


def describe(probe: Probe) -> str:
    """E.g. "returns LL, LH, HL, HH" in the contract's names."""
    return "returns " + ", ".join(returned_bands(probe))



def pools_for(model: nn.Module, x: torch.Tensor | None, pools: Sequence[str] | None = None) -> ModelPools:
    """The model's pools for its checks: found on x, else the last analysis's, else on a 64×64 test image.

    The caller holds the model's capture lock.
    """
    if x is None and not pools:
        cached = cached_pools(model)
        if cached is not None:
            return cached
    if x is None:
        ref = next(iter(model.parameters()), None)
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        if ref is not None and ref.is_floating_point():
            x = x.to(ref.device, ref.dtype)
    return find_pools(model, x, pools=pools)
