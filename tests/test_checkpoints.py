"""wavevis.checkpoints: safe reading (hostile and broken files), key clean-up, the fit/filter report."""

from __future__ import annotations

import io
import os
import pickle
import re
import shlex
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_safetensors

from posted import PostedModel
from wavevis.checkpoints import LoadReport, apply_state_dict, checkpoint_format, read_state_dict
from wavevis.checks import check_pools
from wavevis.errors import CheckpointError
from wavevis.models import build_model
from wavevis.pooling import WavePool2d


@pytest.fixture(scope="module")
def posted() -> PostedModel:
    return PostedModel().eval()


@pytest.fixture(scope="module")
def posted_bytes(posted: PostedModel) -> bytes:
    buf = io.BytesIO()
    torch.save(posted.state_dict(), buf)
    return buf.getvalue()


def _saved(obj: object, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message and message
    return message


# --- reading ------------------------------------------------------------------------------------


def test_posted_state_dict_reads_with_contiguous_private_tensors(posted, posted_bytes):
    assert posted.pool1.LL.weight.stride()[0] == 0  # the posted filters are expanded views
    state = read_state_dict(posted_bytes)
    assert list(state) == list(posted.state_dict())
    pointers = set()
    for key, t in state.items():
        assert t.is_contiguous() and 0 not in t.stride() or t.numel() <= 1, key
        assert type(t) is torch.Tensor and t.device.type == "cpu"
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
        pointers.add(t.untyped_storage().data_ptr())
        assert torch.equal(t, posted.state_dict()[key])
    assert len(pointers) == len(state)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3},
        lambda sd: {"model": sd, "optimizer": {"lr": 0.1}},
        lambda sd: {"model_state_dict": sd, "epoch": 3, "loss": 0.5},
        lambda sd: {"model": {"state_dict": sd}},
        lambda sd: OrderedDict((f"module.{k}", v) for k, v in sd.items()),
        lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},
    ],
    ids=["plain", "state_dict", "model", "model_state_dict", "nested", "module", "wrapped-module", "compiled"],
)
def test_wrappers_and_prefixes_are_removed(posted, wrap):
    state = read_state_dict(_saved(wrap(posted.state_dict())))
    assert list(state) == list(posted.state_dict())


def test_format_is_told_by_content_not_extension(posted, posted_bytes, tmp_path):
    tensors = {k: v.contiguous().clone() for k, v in posted.state_dict().items()}
    safetensors_bytes = save_safetensors(tensors)
    assert checkpoint_format(posted_bytes) == "torch-zip"
    legacy = _saved({"a": torch.ones(1)}, _use_new_zipfile_serialization=False)
    assert checkpoint_format(legacy) == "torch-pickle"
    assert checkpoint_format(safetensors_bytes) == "safetensors"
    assert checkpoint_format(b"hello world") is None
    (tmp_path / "really-safetensors.pt").write_bytes(safetensors_bytes)
    (tmp_path / "really-torch.safetensors").write_bytes(posted_bytes)
    for name in ("really-safetensors.pt", "really-torch.safetensors"):
        state = read_state_dict(tmp_path / name)
        assert all(torch.equal(state[k], tensors[k]) for k in tensors)


def test_bytes_path_and_file_objects_give_the_same_state(posted_bytes, tmp_path):
    path = tmp_path / "posted.pt"
    path.write_bytes(posted_bytes)
    from_path = read_state_dict(path)
    with open(path, "rb") as f:
        from_file = read_state_dict(f)
    for other in (read_state_dict(posted_bytes), read_state_dict(str(path)), from_file,
                  read_state_dict(io.BytesIO(posted_bytes)), read_state_dict(bytearray(posted_bytes))):
        assert other.keys() == from_path.keys()
        assert all(torch.equal(other[k], from_path[k]) for k in from_path)


def _touch_with_system(marker: str) -> object:
    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {shlex.quote(marker)}",)

    return Payload()


def _touch_with_exec(marker: str) -> object:
    class Payload:
        def __reduce__(self):
            return exec, (f"open({marker!r}, 'w').close()",)

    return Payload()


HOSTILE = {
    "plain-pickle-system": lambda m: pickle.dumps(_touch_with_system(m)),
    "plain-pickle-exec-protocol2": lambda m: pickle.dumps(_touch_with_exec(m), protocol=2),
    "torch-zip-system": lambda m: _saved(_touch_with_system(m)),
    "torch-zip-exec-in-state-dict": lambda m: _saved({"w": torch.ones(1), "evil": _touch_with_exec(m)}),
    "torch-legacy-system": lambda m: _saved(_touch_with_system(m), _use_new_zipfile_serialization=False),
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_pickles_are_refused_without_running(make, tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(make(str(marker)))
    with pytest.raises(CheckpointError) as excinfo:
        read_state_dict(path)
    message = _one_line_error(excinfo)
    assert message.startswith("checkpoint.pt ")
    assert "refused without running it" in message
    assert not marker.exists()


def test_pickled_whole_module_is_refused_with_state_dict_hint(posted, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(posted, path)
    with pytest.raises(CheckpointError) as excinfo:
        read_state_dict(path)
    message = _one_line_error(excinfo)
    assert "whole.pt is a pickled object, not a state_dict" in message
    assert "PostedModel" in message and "save model.state_dict() instead" in message


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="noise.pt is not a PyTorch .* or safetensors") as excinfo:
        read_state_dict(path)
    _one_line_error(excinfo)


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_zip_is_reported(posted_bytes, tmp_path, keep):
    path = tmp_path / "cut.pt"
    path.write_bytes(posted_bytes[: int(len(posted_bytes) * keep)])
    with pytest.raises(CheckpointError, match="cut.pt is not a readable PyTorch .*truncated") as excinfo:
        read_state_dict(path)
    assert "miniz" not in _one_line_error(excinfo)


def test_truncated_legacy_and_safetensors_files_are_reported():
    legacy = _saved({"w": torch.ones(8)}, _use_new_zipfile_serialization=False)
    safe = save_safetensors({"w": torch.ones(8)})
    for data in (legacy[:30], legacy[:-5], safe[:12], safe[:-3]):
        with pytest.raises(CheckpointError, match="truncated") as excinfo:
            read_state_dict(data, name="cut.bin")
        assert _one_line_error(excinfo).startswith("cut.bin ")


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt is empty \(0 bytes\)"):
        read_state_dict(path)


def test_missing_file_and_directory_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist: check the path"):
        read_state_dict(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a directory"):
        read_state_dict(tmp_path)


@pytest.mark.parametrize(
    "obj, pattern",
    [
        ({"conv.weight": torch.ones(2), "epoch": 3}, r"'epoch' is a int, not a tensor"),
        ([torch.ones(2)], r"holds a list, not a state_dict"),
        (torch.ones(2), r"holds a Tensor, not a state_dict"),
        ({}, r"holds no tensors"),
        ({"net": {"w": torch.ones(1)}, "optimizer": {}}, r"top-level keys: net, optimizer"),
        ({1: torch.ones(1)}, r"has a int key 1"),
        ({"module.a": torch.ones(1), "a": torch.ones(1)}, r"has both 'module.a' and 'a' \(the same after"),
        ({"w": torch.ones(2).to_sparse()}, r"'w' is a torch.sparse_coo tensor"),
    ],
    ids=["non-tensor", "list", "tensor", "empty-dict", "unknown-wrapper", "int-key", "prefix-clash", "sparse"],
)
def test_non_state_dict_content_is_reported(obj, pattern):
    with pytest.raises(CheckpointError, match=pattern) as excinfo:
        read_state_dict(_saved(obj), name="ckpt.pt")
    assert _one_line_error(excinfo).startswith("ckpt.pt")


def test_max_bytes_is_enforced_for_every_source(posted_bytes, tmp_path):
    path = tmp_path / "big.pt"
    path.write_bytes(posted_bytes)
    size = len(posted_bytes)
    for source in (path, posted_bytes, io.BytesIO(posted_bytes)):
        with pytest.raises(CheckpointError, match=r"over the 1\.0 MB limit") as excinfo:
            read_state_dict(source, name="big.pt", max_bytes=1_000_000)
        message = _one_line_error(excinfo)
        assert message.startswith("big.pt is ") and "max_bytes" in message
    for source in (path, io.BytesIO(posted_bytes)):
        with pytest.raises(CheckpointError, match=rf"is {size / 1e6:.1f} MB, over"):
            read_state_dict(source, max_bytes=1_000_000)

    class Stream(io.RawIOBase):  # an upload that cannot tell its size
        def __init__(self):
            self.inner = io.BytesIO(posted_bytes)

        def readable(self):
            return True

        def read(self, n=-1):
            return self.inner.read(n)

    with pytest.raises(CheckpointError, match=r"^checkpoint is larger than the 1\.0 MB limit: "):
        read_state_dict(Stream(), max_bytes=1_000_000)
    with pytest.raises(CheckpointError, match=rf"is {size:,} bytes, over the {size - 1:,} bytes limit"):
        read_state_dict(path, max_bytes=size - 1)
    assert read_state_dict(path, max_bytes=size).keys()


# --- applying -----------------------------------------------------------------------------------


def test_apply_into_our_model_and_into_the_posted_code(posted):
    state = posted.state_dict()  # expanded filters, as the posted code holds them
    ours = build_model("wavevgg", seed=1)
    report = apply_state_dict(ours, state, model_name="wavevgg", source="posted.pt")
    assert isinstance(report, LoadReport) and report.ok
    assert report.loaded == tuple(state)
    assert report.summary() == "posted.pt → wavevgg: 34 tensors loaded, no problems found"
    assert report.lines() == [report.summary()]
    again = PostedModel(seed=1)  # plain load_state_dict cannot write its stride-0 filters
    assert apply_state_dict(again, state).ok
    for key, value in state.items():
        assert torch.equal(ours.state_dict()[key], value) and torch.equal(again.state_dict()[key], value)


def test_wrong_keys_strict_and_lenient(posted):
    state = dict(posted.state_dict())
    state["fc.weight"] = state.pop("classify.weight")
    del state["conv0.weight"]
    model = build_model("wavevgg")
    with pytest.raises(CheckpointError) as excinfo:
        apply_state_dict(model, state, model_name="wavevgg", source="ckpt.pt")
    assert _one_line_error(excinfo) == (
        "ckpt.pt does not fit wavevgg: 2 missing (conv0.weight, classify.weight), 1 unexpected "
        "(fc.weight) — is it for another model or pool variant?"
    )
    report = apply_state_dict(model, state, strict=False)
    assert report.missing == ("conv0.weight", "classify.weight") and report.unexpected == ("fc.weight",)
    assert not report.ok and "2 missing, 1 unexpected" in report.summary()
    assert "not in the model (ignored): fc.weight" in report.lines()
    assert torch.equal(model.conv1_1.weight, state["conv1_1.weight"])


def test_wrong_shapes_strict_and_lenient(posted):
    state = dict(posted.state_dict())
    state["conv1_2.weight"] = torch.zeros(64, 64, 5, 5)
    model = build_model("wavevgg")
    before = model.conv1_2.weight.clone()
    with pytest.raises(CheckpointError, match=r"1 shape mismatch \(conv1_2.weight 64x64x5x5 vs 64x64x3x3\)"):
        apply_state_dict(model, state)
    report = apply_state_dict(model, state, strict=False)
    assert report.shape_mismatches == (("conv1_2.weight", (64, 64, 5, 5), (64, 64, 3, 3)),)
    assert torch.equal(model.conv1_2.weight, before)
    assert report.lines()[1] == (
        "shape mismatch (not loaded): conv1_2.weight is 64x64x5x5 in the checkpoint, 64x64x3x3 in the model"
    )


def test_other_class_count_suggests_num_classes():
    state = PostedModel(num_classes=10).state_dict()
    with pytest.raises(CheckpointError) as excinfo:
        apply_state_dict(build_model("wavevgg"), state, model_name="wavevgg", source="ten.pt")
    message = _one_line_error(excinfo)
    assert "classify.weight 10x512 vs 7x512" in message and "--num-classes 10" in message
    assert apply_state_dict(build_model("wavevgg", num_classes=10), state).ok


def test_pool_variant_hints(posted):
    with pytest.raises(CheckpointError, match="try --pool wave-ll, max or avg"):
        apply_state_dict(build_model("wavevgg", pool="wave-cat"), posted.state_dict())
    with pytest.raises(CheckpointError, match="try --pool wave-cat"):
        apply_state_dict(build_model("wavevgg"), build_model("wavevgg", pool="wave-cat").state_dict())
    with pytest.raises(CheckpointError, match="12 unexpected .* saved with --pool wave-ll"):
        apply_state_dict(build_model("wavevgg", pool="max"), posted.state_dict())
    with pytest.raises(CheckpointError, match="no wavelet-pool filters"):
        apply_state_dict(build_model("wavevgg"), build_model("wavevgg", pool="avg").state_dict())


def test_checkpoint_from_posted_code_without_groups():
    broken = PostedModel(groups_restored=False)
    with pytest.raises(CheckpointError, match="without groups=in_channels"):
        apply_state_dict(build_model("wavevgg"), broken.state_dict())
    report = apply_state_dict(PostedModel(groups_restored=False, seed=3), broken.state_dict())
    assert len(report.filter_warnings) == 12
    assert report.filter_warnings[0] == (
        "pool1.LL.weight has shape 64x64x2x2, not a depthwise haar filter 64x1x2x2 "
        "(is groups=channels missing?)"
    )


def test_nan_weights_are_reported_and_still_loaded(posted):
    state = dict(posted.state_dict())
    state["conv2_1.weight"] = state["conv2_1.weight"].clone()
    state["conv2_1.weight"][0, 0, 0, 0] = float("nan")
    state["classify.bias"] = torch.full_like(state["classify.bias"], float("inf"))
    model = build_model("wavevgg")
    report = apply_state_dict(model, state)
    assert report.nonfinite == ("conv2_1.weight", "classify.bias")
    assert "conv2_1.weight contains NaN or Inf values" in report.lines()
    assert torch.isnan(model.conv2_1.weight[0, 0, 0, 0]) and not report.ok


def test_altered_filters_are_named(posted):
    state = dict(posted.state_dict())
    state["pool2.LH.weight"] = state["pool2.LH.weight"] + 0.5
    state["pool3.HL.weight"], state["pool3.HH.weight"] = state["pool3.HH.weight"], state["pool3.HL.weight"]
    report = apply_state_dict(build_model("wavevgg"), state)
    assert report.filter_warnings[0] == "pool2.LH.weight is not the haar LH filter (max |diff| 0.5)"
    assert report.filter_warnings[1].startswith("pool3.HL.weight is not the haar HL filter (max |diff| 1)")
    assert "holds the HH filter — are the band labels swapped?" in report.filter_warnings[1]
    assert len(report.filter_warnings) == 3 and "1 tensors" not in report.summary()
    assert report.summary().endswith("3 filter warnings")


def test_a_sign_flip_is_a_note_worded_as_the_check_and_a_swapped_band_still_warns(posted):
    state = dict(posted.state_dict())
    state["pool1.LH.weight"] = -state["pool1.LH.weight"]
    state["pool3.HL.weight"], state["pool3.HH.weight"] = state["pool3.HH.weight"], -state["pool3.HL.weight"]
    model = build_model("wavevgg")
    report = apply_state_dict(model, state)
    note = "pool1.LH.weight holds −LH: a sign flip changes no energy"
    assert report.filter_notes == (note,)
    assert report.filter_warnings[0].startswith("pool3.HL.weight is not the haar HL filter (max |diff| 1)")
    assert report.filter_warnings[1].endswith("it holds the −HL filter — are the band labels swapped?")
    assert len(report.filter_warnings) == 2 and report.lines()[-1] == note
    filters = next(c for c in check_pools(model) if c.layer == "pool1" and c.check == "filters")
    assert filters.passed and "LH holds −LH: a sign flip changes no energy" in filters.text


def test_a_flipped_filter_alone_is_a_note_and_the_report_stays_ok():
    model = build_model("wavevgg", wavelet="db2")  # 4×4 kernels: unlike Haar's, a flip is not a sign flip
    state = dict(model.state_dict())
    state["pool2.HH.weight"] = state["pool2.HH.weight"].flip(-2, -1)
    report = apply_state_dict(model, state)
    assert report.ok and report.filter_warnings == ()
    assert report.filter_notes == ("pool2.HH.weight holds HH flipped: a flip changes no energy",)
    assert report.summary().endswith("no problems found")


def test_non_haar_pools_are_checked_against_their_own_wavelet():
    model = build_model("wavevgg", wavelet="db2")
    assert apply_state_dict(model, model.state_dict()).ok
    with pytest.raises(CheckpointError, match="shape mismatch"):
        apply_state_dict(build_model("wavevgg"), model.state_dict())


def test_apply_rejects_non_tensor_values_and_complex_weights():
    model = build_model("wavevgg")
    with pytest.raises(CheckpointError, match="'conv0.weight' is a list, not a tensor"):
        apply_state_dict(model, {"conv0.weight": [1.0]}, strict=False)
    with pytest.raises(CheckpointError, match="conv0.bias is torch.complex64"):
        apply_state_dict(model, {"conv0.bias": torch.ones(3, dtype=torch.complex64)}, strict=False)


# --- properties -----------------------------------------------------------------------------------


def _small_model() -> nn.Module:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(2, 2, 1), bn=nn.BatchNorm2d(2), pool=WavePool2d(2), fc=nn.Linear(2, 3),
    ))


_SMALL_SHAPES = {k: tuple(v.shape) for k, v in _small_model().state_dict().items()}
_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.uint8,
           torch.bool, torch.complex64]
_FILLS = [0.0, 1.0, -0.5, float("nan"), float("inf")]


@st.composite
def _tensors(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4)))
    dtype = draw(st.sampled_from(_DTYPES))
    fill = draw(st.sampled_from(_FILLS))
    base = torch.full(shape, fill) if dtype.is_floating_point or dtype.is_complex else torch.ones(shape)
    t = base.to(dtype)
    if draw(st.booleans()) and t.dim() and t.shape[0] > 1:
        t = t[:1].expand(*t.shape)  # stride-0, as the posted code saves
    return t


@st.composite
def _entries(draw: st.DrawFn) -> tuple[object, object]:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # a real key with its real shape
        key = draw(st.sampled_from(sorted(_SMALL_SHAPES)))
        return key, draw(_tensors(_SMALL_SHAPES[key]))
    key = draw(st.one_of(st.sampled_from(sorted(_SMALL_SHAPES)), st.text(max_size=12),
                         st.sampled_from(["module.conv.weight", "state_dict", "model", "pool.LL.weight"])))
    if kind == 3:
        other = st.one_of(st.integers(), st.text(max_size=5), st.none(), st.lists(st.floats(), max_size=2))
        return key, draw(other)
    return key, draw(_tensors())


_FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(entries=st.lists(_entries(), max_size=8), strict=st.booleans())
def test_apply_state_dict_only_raises_checkpoint_error(entries, strict):
    state = dict(entries)
    try:
        report = apply_state_dict(_small_model(), state, strict=strict)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(report, LoadReport)
        assert set(report.loaded) <= set(_SMALL_SHAPES)
        assert not any("\n" in line for line in report.lines())


@_FUZZ
@given(entries=st.lists(_entries(), max_size=6))
def test_read_state_dict_round_trips_or_raises_checkpoint_error(entries):
    state = dict(entries)
    try:
        read = read_state_dict(_saved(state))
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    else:
        assert len(read) == len(state)
        assert all(t.is_contiguous() and isinstance(t, torch.Tensor) for t in read.values())


_VALID = _saved({"conv.weight": torch.arange(8.0).reshape(2, 1, 2, 2), "fc.bias": torch.ones(3)})
_PREFIXES = [b"", b"PK\x03\x04", b"\x80\x02", b"\x80\x04\x95", b"\x10\x00\x00\x00\x00\x00\x00\x00{",
             save_safetensors({"w": torch.ones(2)})[:20]]


@_FUZZ
@given(
    prefix=st.sampled_from(_PREFIXES), noise=st.binary(max_size=256),
    cut=st.integers(0, len(_VALID)),
    flips=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=4),
    mutate=st.booleans(),
)
def test_read_state_dict_on_garbage_only_raises_checkpoint_error(prefix, noise, cut, flips, mutate):
    if mutate:
        data = bytearray(_VALID)
        for position, value in flips:
            data[position] = value
        data = bytes(data[:cut])
    else:
        data = prefix + noise
    try:
        state = read_state_dict(data)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(t, torch.Tensor) for t in state.values())


# --- issue 13: claims read from metadata, before anything is materialised ---------------------------

import wavevis.claims as claims_module  # noqa: E402
from wavevis.claims import (  # noqa: E402
    EXPANSION_ALLOWANCE, Claims, TensorClaim, check_claims, file_claims, state_claims,
)


def _claim(nbytes: int, expanded: bool = False) -> TensorClaim:
    return TensorClaim("w", "float32", (nbytes // 4,), nbytes, expanded)


STATE = {"a.weight": torch.zeros(3, 5), "a.bias": torch.zeros(5, dtype=torch.float64), "n": torch.zeros((), dtype=torch.int64)}
# By hand: 15 × 4 + 5 × 8 + 1 × 8 bytes.
STATE_BYTES = 60 + 40 + 8


@pytest.mark.parametrize("fmt, save", [
    ("torch-zip", lambda s: _saved(s)),
    ("torch-pickle", lambda s: _saved(s, _use_new_zipfile_serialization=False)),
    ("safetensors", lambda s: save_safetensors(s)),
], ids=["zip", "legacy", "safetensors"])
def test_file_claims_read_shapes_and_sizes_from_metadata(fmt, save):
    found = file_claims(save(STATE), fmt, "x")
    assert found.stored == STATE_BYTES and found.materialised == STATE_BYTES
    shapes = {t.name: (t.shape, t.nbytes, t.expanded) for t in found.tensors}
    assert shapes == {"a.weight": ((3, 5), 60, False), "a.bias": ((5,), 40, False), "n": ((), 8, False)}


def test_expanded_and_shared_views_are_claimed_at_their_materialised_size():
    base = torch.zeros(10)
    state = {"e": torch.ones(1).expand(6, 7), "v1": base, "v2": base[2:6]}
    found = file_claims(_saved(state), "torch-zip", "x")
    assert found.stored == 4 + 40  # two storages
    assert {t.name: (t.nbytes, t.expanded) for t in found.tensors} == {"e": (168, True), "v1": (40, False), "v2": (16, False)}
    assert state_claims(state).materialised == found.materialised == 224


@pytest.mark.parametrize("stored, claimed, expanded, ok", [
    (100, 100 + EXPANSION_ALLOWANCE, True, True),          # the allowance exactly
    (100, 100 + EXPANSION_ALLOWANCE + 1, True, False),
    (10**8, 2 * 10**8, False, True),                       # tied weights: the stored bytes once more
    (10**8, 2 * 10**8 + 1, False, False),
], ids=["allowance", "allowance+1", "twice", "twice+1"])
def test_the_expansion_rule_at_its_edges(stored, claimed, expanded, ok):
    claims = Claims(stored, (_claim(claimed, expanded),))
    if ok:
        check_claims(claims, "x", max_memory=None)
    else:
        with pytest.raises(CheckpointError, match=r"^x: its tensors claim .* refused before materialising anything"):
            check_claims(claims, "x", max_memory=None)


@pytest.mark.parametrize("stored, claimed, words", [
    (2001, 2001, "x holds 2.0 kB of tensor data, over the 2.0 kB limit"),
    (1000, 2001, "x: its tensors claim 2.0 kB (the largest: w 500 float32 = 2.0 kB), over the 2.0 kB limit"),
], ids=["stored", "materialised"])
def test_max_memory_bounds_stored_and_materialised_bytes(stored, claimed, words):
    with pytest.raises(CheckpointError, match=re.escape(words)):
        check_claims(Claims(stored, (_claim(claimed),)), "x", max_memory=2000)
    check_claims(Claims(2000, (_claim(2000),)), "x", max_memory=2000)


def test_an_expanded_tensor_given_in_memory_is_refused_before_it_is_copied():
    model = nn.Linear(2, 2)
    huge = torch.ones(1).expand(100_000, 100_000)  # 40 GB if copied
    with pytest.raises(CheckpointError, match=r"src.pt: its tensors claim 40.0 GB .*expanded \(stride-0\) view"):
        apply_state_dict(model, {"weight": huge, "bias": torch.zeros(2)}, source="src.pt")


def test_the_posted_expanded_filters_are_still_loaded(posted, posted_bytes):
    state = read_state_dict(posted_bytes)
    assert all(t.is_contiguous() for t in state.values())
    torch.testing.assert_close(state["pool1.LH.weight"], posted.state_dict()["pool1.LH.weight"].contiguous())


def test_max_memory_none_still_refuses_expansion_and_a_raised_limit_loads():
    data = _saved({"w": torch.ones(1).expand(3000, 3000)})  # 36 MB from 4 bytes
    assert read_state_dict(data, max_memory=None)["w"].shape == (3000, 3000)  # within the 64 MiB allowance
    big = _saved({"w": torch.ones(1).expand(5000, 5000)})  # 100 MB from 4 bytes
    with pytest.raises(CheckpointError, match="from 4 bytes of stored data"):
        read_state_dict(big, max_memory=None)


def test_a_zip_with_too_many_entries_is_refused_by_its_end_record(monkeypatch):
    monkeypatch.setattr(claims_module, "MAX_ZIP_ENTRIES", 5)
    with pytest.raises(CheckpointError, match=r"^ckpt.pt is a zip of \d+ entries, over the 5"):
        read_state_dict(_saved({"w": torch.zeros(2)}), name="ckpt.pt")


def test_a_pickle_of_many_opcodes_is_refused_before_unpickling(monkeypatch):
    monkeypatch.setattr(claims_module, "MAX_PICKLE_OPS", 50)
    state = {f"w{i}": torch.zeros(1) for i in range(5)}  # ~37 opcodes per tensor
    with pytest.raises(CheckpointError, match="its pickle has over 50 opcodes"):
        read_state_dict(_saved(state))
    with pytest.raises(CheckpointError, match="its pickle has over 50 opcodes"):
        read_state_dict(_saved(state, _use_new_zipfile_serialization=False))


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2], ids=["e4m3fn", "e5m2"])
def test_float8_weights_load_and_their_nan_is_found(dtype):
    model = nn.Linear(2, 2)
    weight = torch.tensor([[0.5, 1.0], [2.0, float("nan")]]).to(dtype)
    report = apply_state_dict(model, {"weight": weight, "bias": torch.zeros(2).to(dtype)}, source="f8.pt")
    assert report.nonfinite == ("weight",)
    assert model.weight[0].tolist() == [0.5, 1.0] and model.weight[1, 1].isnan()


def test_unreadable_dtypes_are_one_line():
    model = nn.Linear(2, 2)
    packed = torch.zeros(2, 2, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    with pytest.raises(CheckpointError) as info:
        apply_state_dict(model, {"weight": packed, "bias": torch.zeros(2)}, source="f4.pt")
    message = _one_line_error(info)
    assert message.startswith("f4.pt") and "float4_e2m1fn_x2" in message


@pytest.mark.parametrize("payload, words", [
    ((bytearray, (10**10,)), "its pickle claims 10.0 GB"),
    ((torch.FloatTensor, (10**10,)), "it needs torch.FloatTensor"),
    ((torch.zeros, (10**10,)), "it needs builtins.getattr"),  # how pickle names a torch function
    ((torch.Size, ((2, 2),)), "'w' is a Size, not a tensor"),  # allowed and harmless: then not a state_dict
], ids=["bytearray", "tensor-class", "torch-function", "size"])
def test_pickled_calls_are_budgeted_or_refused_without_running(payload, words):
    class Call:
        def __reduce__(self):
            return payload

    with pytest.raises(CheckpointError, match=re.escape(words)):
        read_state_dict(_saved({"w": Call()}), name="p.pt")


def test_names_with_control_characters_are_escaped_in_messages_and_reports():
    state = {"ok": torch.zeros(1), "bad\nkey\x1b[1m": torch.zeros(1)}
    with pytest.raises(CheckpointError) as info:
        apply_state_dict(nn.Linear(1, 1), state, source="c\x1b]0;x\x07.pt")
    message = _one_line_error(info)
    assert "\x1b" not in message and "c\\x1b]0;x\\x07.pt" in message and "bad\\nkey\\x1b[1m" in message
    report = apply_state_dict(nn.Linear(1, 1), state, strict=False, source="s.pt")
    assert all("\x1b" not in line and "\n" not in line for line in report.lines())
