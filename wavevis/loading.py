"""Model specs (built-in name, `package.module:callable`, `path/to/file.py:Name`) → nn.Module + weights."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import BinaryIO

import torch.nn as nn

from .checkpoints import LoadReport, apply_state_dict, read_state_dict, source_name
from .claims import DEFAULT_MAX_MEMORY
from .errors import ModelSpecError, escape, one_line, reraise_interrupts
from .files import file_kind
from .models import MAX_SEED, build_model, list_models, model_description, seeded

__all__ = ["MAX_CLASSES", "describe_spec", "load_model", "load_model_with_report", "resolve_spec"]

# Most classifier outputs a model is built with (ImageNet-21k has 21,841): a classifier of 512 inputs
# takes 2 kB per class, so 10⁹ classes would ask for 2 TB before anything could be checked.
MAX_CLASSES = 100_000

Weights = str | os.PathLike | bytes | BinaryIO

_counter = itertools.count()
# Real path of an imported model file → ((mtime_ns, size) when imported, module): an unchanged file
# is executed once, however often it is loaded (the app loads it again on every seed or checkpoint
# change). Re-entrant: a model file may itself load another one while it is imported.
_FILE_MODULES: dict[str, tuple[tuple[int, int], ModuleType]] = {}
_FILE_MODULES_LOCK = threading.RLock()


def _is_file_spec(target: str) -> bool:
    return target.endswith(".py") or "/" in target or os.sep in target


def _split(spec: str) -> tuple[str, str]:
    """`target:attr`, where target is a dotted module or a .py path (which may itself hold ':')."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ModelSpecError(
            f"model spec {spec!r} is not a built-in model ({', '.join(list_models())}) nor of the form "
            "package.module:callable or path/to/file.py:Name: fix the spelling"
        )
    return target.strip(), attr.strip()


@contextlib.contextmanager
def _on_path(directory: str) -> Iterator[None]:
    """Let a model file import its neighbours (the posted code does `from wavepool import *`)."""
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(directory)


def _import_file(path: str, spec: str) -> ModuleType:
    """The module of a model file, imported again only when the file changed since."""
    if not os.path.isfile(path):
        where = (
            "is a directory" if os.path.isdir(path)
            else f"is {file_kind(os.stat(path).st_mode)}, not a regular file" if os.path.exists(path)
            else "not found"
        )
        raise ModelSpecError(f"model file {escape(path)} {where} (in spec {spec!r}): give the path of a .py file")
    path = os.path.abspath(path)
    real = os.path.realpath(path)
    info = os.stat(real)
    stamp = (info.st_mtime_ns, info.st_size)
    with _FILE_MODULES_LOCK:
        cached = _FILE_MODULES.get(real)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        module = _exec_file(path, spec)
        _FILE_MODULES[real] = (stamp, module)
    return module


def _exec_file(path: str, spec: str) -> ModuleType:
    """Import a model file under a new module name (kept in sys.modules)."""
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])
    name = f"wavevis_user_{stem}_{digest}_{next(_counter)}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ModelSpecError(f"cannot import {escape(path)} as Python (in spec {spec!r}): give a .py file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up here
    try:
        with _on_path(os.path.dirname(path)):
            module_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        reraise_interrupts(exc)
        fix = (
            "install it or put it next to the file" if isinstance(exc, ImportError)
            else "fix the file so that importing it works"
        )
        raise ModelSpecError(f"importing {escape(path)} failed ({one_line(exc)}): {fix}") from None
    return module


def _import_module(target: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        local = target.replace(".", os.sep) + ".py"
        fix = (
            f"to use ./{local} write the spec as {local}:{spec.rpartition(':')[2]}"
            if os.path.isfile(local)
            else f"check the spelling in {spec!r} and that the package is installed or on PYTHONPATH"
        )
        raise ModelSpecError(f"module {target!r} is not importable ({one_line(exc)}): {fix}") from None
    except BaseException as exc:
        reraise_interrupts(exc)
        raise ModelSpecError(
            f"importing module {target!r} raised {one_line(exc)}: fix the module so that importing "
            "it works"
        ) from None


def _available(module: ModuleType) -> list[str]:
    """Public nn.Module classes and functions a module defines (what a spec could name)."""
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, nn.Module):
            names.append(name)
        elif inspect.isclass(obj) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__:
            names.append(name)
        elif inspect.isfunction(obj) and obj.__module__ == module.__name__:
            names.append(name)
    return sorted(names)


def resolve_spec(spec: str) -> Callable[..., nn.Module] | nn.Module:
    """The class, factory or module instance a `module:callable` / `file.py:Name` spec names.

    Raises:
        ModelSpecError: the module or file cannot be imported, or has no such attribute.
    """
    target, attr = _split(spec)
    module = _import_file(target, spec) if _is_file_spec(target) else _import_module(target, spec)
    obj: object = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            choices = _available(module)
            listed = (
                f"it defines {', '.join(choices)}" if choices
                else "it defines no nn.Module classes or functions"
            )
            raise ModelSpecError(f"{escape(target)} has no {attr!r} ({listed}): fix the name after ':' in {spec!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelSpecError(
            f"{spec!r} names a {type(obj).__name__}, not a class or function: name an nn.Module "
            "class or a factory that returns one"
        )
    return obj  # type: ignore[return-value]


def _accepts(fn: Callable[..., object], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    param = params.get(name)
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def _build_custom(spec: str, num_classes: int, seed: int | None) -> nn.Module:
    obj = resolve_spec(spec)
    if isinstance(obj, nn.Module):
        # A copy: loading weights into the module-level instance would change every model built
        # from this spec before (e.g. the app's cached models).
        return copy.deepcopy(obj)
    kwargs = {"num_classes": num_classes} if _accepts(obj, "num_classes") else {}
    call = f"{spec}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        with seeded(seed):
            model = obj(**kwargs)
    except BaseException as exc:
        reraise_interrupts(exc)
        raise ModelSpecError(
            f"calling {call} raised {one_line(exc)}: give its arguments defaults or point the spec "
            "at a factory that takes none"
        ) from None
    if not isinstance(model, nn.Module):
        raise ModelSpecError(
            f"{call} returned a {type(model).__name__}, not an nn.Module: make it return the model"
        )
    return model


def _build(spec: str, *, pool: str, wavelet: str, num_classes: int, init: str, seed: int | None) -> nn.Module:
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError(f"model spec must be a non-empty string, got {escape(repr(spec))}: e.g. 'wavevgg'")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
        raise ModelSpecError(
            f"num_classes {escape(repr(num_classes))} is outside 1 to {MAX_CLASSES:,}: use the checkpoint's class "
            "count (--num-classes in the CLI, Classes in the app)"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ModelSpecError(f"seed {escape(repr(seed))} is outside 0 to {MAX_SEED} (torch seeds are 64-bit): use e.g. seed 1")
    spec = spec.strip()
    if spec in list_models():
        try:
            return build_model(
                spec, pool=pool, wavelet=wavelet, num_classes=num_classes, init=init, seed=seed
            )
        except ValueError as exc:
            raise ModelSpecError(one_line(exc, with_type=False)) from None
    return _build_custom(spec, num_classes, seed)


def load_model_with_report(
    spec: str = "wavevgg", weights: Weights | None = None, *, pool: str = "wave-ll",
    wavelet: str = "haar", num_classes: int = 7, init: str = "xavierUniform",
    seed: int | None = 0, strict: bool = True, max_bytes: int | None = None,
    weights_name: str | None = None, max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> tuple[nn.Module, LoadReport | None]:
    """Like `load_model`, also returning the checkpoint's LoadReport (None without weights)."""
    model = _build(spec, pool=pool, wavelet=wavelet, num_classes=num_classes, init=init, seed=seed)
    report = None
    if weights is not None:
        state = read_state_dict(weights, name=weights_name, max_bytes=max_bytes, max_memory=max_memory)
        source = source_name(weights, weights_name)
        report = apply_state_dict(model, state, strict=strict, model_name=spec, source=source, max_memory=max_memory)
    return model.eval(), report


def load_model(
    spec: str = "wavevgg", weights: Weights | None = None, *, pool: str = "wave-ll",
    wavelet: str = "haar", num_classes: int = 7, init: str = "xavierUniform",
    seed: int | None = 0, strict: bool = True, max_bytes: int | None = None,
    weights_name: str | None = None, max_memory: int | None = DEFAULT_MAX_MEMORY,
) -> nn.Module:
    """Build a model from a spec and optionally load weights into it safely.

    Args:
        spec: a built-in name ("wavevgg"), "package.module:callable", or "path/to/file.py:Name".
            The callable is a class or factory returning an nn.Module (or a module-level model
            instance); it is called without arguments, plus `num_classes` if it declares that
            parameter. A file is imported under a unique module name with its folder on
            sys.path during the import, so it can import its neighbours.
        weights: checkpoint path, bytes or binary file object (.pt/.pth/.safetensors); None keeps
            the initial weights.
        pool: pooling variant of built-in models.
        wavelet: wavelet family of built-in models.
        num_classes: classifier outputs.
        init: initialisation scheme of built-in models.
        seed: torch seed for the initialisation (custom models too; the global RNG is left
            untouched); None draws from the global RNG.
        strict: every checkpoint key and shape must fit the model.
        max_bytes: refuse larger checkpoints; None: `max_memory` bounds the file size.
        max_memory: what the checkpoint may make wavevis allocate for its tensors, counted from
            its metadata before anything is materialised (see `read_state_dict`); None for no limit.
        weights_name: how messages call the checkpoint (e.g. an upload's file name when `weights`
            is bytes); defaults to the file's base name, else "checkpoint".

    Returns:
        The model, in eval mode.

    Raises:
        ModelSpecError: the spec does not give an nn.Module, or num_classes/seed are out of range.
        CheckpointError: the weights cannot be read safely, claim more memory than allowed, or do
            not fit.
    """
    model, _ = load_model_with_report(
        spec, weights, pool=pool, wavelet=wavelet, num_classes=num_classes, init=init,
        seed=seed, strict=strict, max_bytes=max_bytes, weights_name=weights_name, max_memory=max_memory,
    )
    return model


def _doc_line(obj: object) -> str:
    doc = inspect.cleandoc(getattr(obj, "__doc__", None) or "")  # own docstring, not nn.Module's
    return doc.splitlines()[0].strip() if doc else ""


def describe_spec(spec: str) -> str:
    """One line about what a spec names, for a `models` listing (imports it, does not build it).

    Raises:
        ModelSpecError: as `resolve_spec`.
    """
    spec = spec.strip()
    if spec in list_models():
        return f"{spec}: {model_description(spec) or 'built-in model'}"
    obj = resolve_spec(spec)
    if isinstance(obj, nn.Module):
        kind = f"{type(obj).__name__} instance"
    elif inspect.isclass(obj):
        kind = f"class {obj.__name__}"
    else:
        kind = f"function {getattr(obj, '__name__', '?')}"
    doc = _doc_line(obj) if not isinstance(obj, nn.Module) else ""
    return f"{spec}: {kind}" + (f" — {doc}" if doc else "")
