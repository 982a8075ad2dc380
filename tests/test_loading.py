"""wavevis.loading: posted checkpoints load into wavevgg with identical logits; custom model specs."""

from __future__ import annotations

import io
import os
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from matplotlib import cbook
from PIL import Image
from safetensors.torch import save_file

import posted as posted_module
from posted import PostedModel
from wavevis.checkpoints import LoadReport
from wavevis.errors import CheckpointError, ModelSpecError
from wavevis.loading import describe_spec, load_model, load_model_with_report, resolve_spec
from wavevis.models import build_model

POSTED_FILE = Path(posted_module.__file__)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Grace Hopper and a seeded noise image, 64×64, ImageNet-normalised: (2, 3, 64, 64)."""
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        photo = np.asarray(im.convert("RGB").resize((64, 64), Image.BILINEAR), dtype=np.float32) / 255
    noise = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    x = torch.from_numpy(np.stack([photo, noise])).permute(0, 3, 1, 2)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


@pytest.fixture(scope="module")
def posted() -> PostedModel:
    return PostedModel(seed=7).eval()


@pytest.fixture(scope="module")
def posted_logits(posted: PostedModel, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return posted(images)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def _unique_module(request: pytest.FixtureRequest, stem: str) -> str:
    """A fresh module name, dropped from sys.modules when the test ends."""
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    request.addfinalizer(lambda: sys.modules.pop(name, None))
    return name


def _save_torch(obj: object, path: Path) -> None:
    torch.save(obj, path)


def _save_safetensors(state: dict, path: Path) -> None:
    # safetensors refuses stride-0 and shared tensors: give each its own contiguous copy.
    save_file({k: v.contiguous().clone() for k, v in state.items()}, path)


SAVES = {
    "plain.pt": lambda sd, p: _save_torch(sd, p),
    "wrapped.pth": lambda sd, p: _save_torch({"state_dict": sd, "epoch": 12}, p),
    "model.pt": lambda sd, p: _save_torch({"model": sd}, p),
    "model_state_dict.pt": lambda sd, p: _save_torch({"model_state_dict": sd, "optimizer_state_dict": {}}, p),
    "dataparallel.pt": lambda sd, p: _save_torch({f"module.{k}": v for k, v in sd.items()}, p),
    "legacy.pt": lambda sd, p: torch.save(sd, p, _use_new_zipfile_serialization=False),
    "weights.safetensors": _save_safetensors,
}


@pytest.mark.parametrize("filename", SAVES)
def test_posted_checkpoints_load_strictly_with_identical_logits(
    filename, posted, posted_logits, images, tmp_path
):
    path = tmp_path / filename
    SAVES[filename](posted.state_dict(), path)
    model, report = load_model_with_report("wavevgg", weights=path)
    assert not model.training
    assert report is not None and report.ok, report.lines()
    assert report.source == filename and report.model == "wavevgg"
    assert torch.equal(_logits(model, images), posted_logits)


def test_weights_as_bytes_and_file_objects(posted, posted_logits, images):
    buf = io.BytesIO()
    torch.save(posted.state_dict(), buf)
    assert torch.equal(_logits(load_model("wavevgg", weights=buf.getvalue()), images), posted_logits)
    buf.seek(0)
    assert torch.equal(_logits(load_model(weights=buf), images), posted_logits)


def test_posted_code_as_a_file_spec_loads_its_own_checkpoint(posted, posted_logits, images, tmp_path):
    path = tmp_path / "posted.pt"
    torch.save(posted.state_dict(), path)
    model, report = load_model_with_report(f"{POSTED_FILE}:PostedModel", weights=path)
    assert report.ok and type(model).__name__ == "PostedModel" and not model.training
    assert torch.equal(_logits(model, images), posted_logits)


def test_broken_posted_variant_loads_into_its_own_code(tmp_path, request):
    posted_copy = _unique_module(request, "posted_copy")  # the user's copy, next to their file
    (tmp_path / f"{posted_copy}.py").write_text(POSTED_FILE.read_text())
    (tmp_path / "broken.py").write_text(textwrap.dedent(f"""
        from {posted_copy} import PostedModel

        def no_groups():
            return PostedModel(groups_restored=False, seed=1)
    """))
    source = PostedModel(groups_restored=False, seed=5).eval()
    path = tmp_path / "no-groups.pt"
    torch.save(source.state_dict(), path)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model, report = load_model_with_report(f"{tmp_path / 'broken.py'}:no_groups", weights=path)
    assert torch.equal(_logits(model, x), _logits(source, x))
    assert len(report.filter_warnings) == 12 and "groups=channels missing" in report.filter_warnings[0]
    with pytest.raises(CheckpointError, match="without groups=in_channels"):
        load_model("wavevgg", weights=path)


def test_built_in_options_and_errors(tmp_path):
    model, report = load_model_with_report("wavevgg", pool="max", num_classes=3, seed=1)
    assert report is None and not model.training and model.classify.out_features == 3
    assert torch.equal(load_model(seed=4).conv0.weight, build_model("wavevgg", seed=4).conv0.weight)
    for kwargs, pattern in [
        (dict(pool="median"), "unknown pool 'median'"),
        (dict(init="zeros"), "invalid initialisation 'zeros'"),
        (dict(num_classes=0), "num_classes 0 is outside 1 to 100,000"),
        (dict(wavelet="nope"), "unknown wavelet 'nope'"),
    ]:
        with pytest.raises(ModelSpecError, match=pattern):
            load_model("wavevgg", **kwargs)
    path = tmp_path / "ten.pt"
    torch.save(PostedModel(num_classes=10).state_dict(), path)
    with pytest.raises(CheckpointError, match="--num-classes 10"):
        load_model("wavevgg", weights=path)
    assert load_model("wavevgg", weights=path, num_classes=10).classify.out_features == 10


MODELS_PY = """
import torch.nn as nn

from {neighbour} import WIDTH  # models import their neighbours, as the posted code does


class Net(nn.Module):
    \"\"\"A tiny test network.\"\"\"

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(3, WIDTH, 3)
        self.fc = nn.Linear(WIDTH, num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


def make_net():
    \"\"\"Factory without arguments.\"\"\"
    return Net(num_classes=5)


def make_dict():
    return {"not": "a model"}


def make_broken():
    raise RuntimeError("weights folder missing")


class NeedsDepth(nn.Module):
    def __init__(self, depth):
        super().__init__()


INSTANCE = Net(num_classes=4)
NUMBER = 3
"""


@pytest.fixture
def models_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """my_models.py, which imports a neighbour module."""
    neighbour = _unique_module(request, "neighbour")
    (tmp_path / f"{neighbour}.py").write_text("WIDTH = 4\n")
    path = tmp_path / "my_models.py"
    path.write_text(MODELS_PY.replace("{neighbour}", neighbour))
    return path


def test_file_spec_class_factory_and_instance(models_file, tmp_path):
    path_before = list(sys.path)
    net = load_model(f"{models_file}:Net", num_classes=6)
    assert type(net).__name__ == "Net" and net.fc.out_features == 6 and not net.training
    assert load_model(f"{models_file}:make_net").fc.out_features == 5
    assert load_model(f"{models_file}:INSTANCE").fc.out_features == 4
    assert sys.path == path_before
    first, second = load_model(f"{models_file}:Net", seed=3), load_model(f"{models_file}:Net", seed=3)
    assert torch.equal(first.conv.weight, second.conv.weight)
    assert type(first) is type(second)  # an unchanged file is imported once
    weights = tmp_path / "net.pt"
    torch.save({"state_dict": first.state_dict()}, weights)
    again, report = load_model_with_report(f"{models_file}:Net", weights=weights, seed=9)
    assert report.ok and torch.equal(again.conv.weight, first.conv.weight)


def test_a_model_file_is_imported_again_only_when_it_changed(tmp_path):
    path = tmp_path / "edited_model.py"
    path.write_text("import torch.nn as nn\n\n\nclass Net(nn.Identity):\n    pass\n")
    spec = f"{path}:Net"
    first = type(load_model(spec))
    assert type(load_model(spec, seed=5)) is first  # an unchanged file is imported once
    modules_before = set(sys.modules)
    load_model(spec, seed=6)
    assert set(sys.modules) == modules_before  # no new module per load
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: same size, newer
    touched = type(load_model(spec))
    assert touched is not first and touched.__module__ != first.__module__
    path.write_text(path.read_text().replace("nn.Identity", "nn.ReLU"))  # edited: another size
    edited = type(load_model(spec))
    assert issubclass(edited, nn.ReLU)
    assert type(load_model(f"{tmp_path}/./edited_model.py:Net")) is edited  # the same file, spelled otherwise


def test_relative_file_spec(models_file, monkeypatch):
    monkeypatch.chdir(models_file.parent)
    assert load_model("my_models.py:make_net").fc.out_features == 5


def test_module_callable_spec(models_file, monkeypatch, request):
    name = _unique_module(request, "wv_models")
    (models_file.parent / f"{name}.py").write_text(models_file.read_text())
    monkeypatch.syspath_prepend(str(models_file.parent))
    assert load_model(f"{name}:Net").fc.out_features == 7  # num_classes passed because Net declares it
    assert load_model(f"{name}:make_net").fc.out_features == 5
    assert describe_spec(f"{name}:Net") == f"{name}:Net: class Net — A tiny test network."
    assert describe_spec(f"{name}:make_net") == (
        f"{name}:make_net: function make_net — Factory without arguments."
    )
    assert describe_spec("wavevgg").startswith("wavevgg: The posted wavelet-pooling VGG")
    assert isinstance(resolve_spec(f"{name}:INSTANCE"), nn.Module)


SPEC_ERRORS = [
    ("resnet-9000", r"'resnet-9000' is not a built-in model \(wavevgg, wavevgg-small\) nor of the form"),
    ("no_such_package_xyz.models:Net",
     r"module 'no_such_package_xyz.models' is not importable "
     r"\(ModuleNotFoundError: No module named 'no_such_package_xyz'\): check the spelling"),
    ("{file}:Missing",
     r"my_models.py has no 'Missing' \(it defines INSTANCE, NeedsDepth, Net, make_broken, make_dict, "
     r"make_net\): fix the name after ':'"),
    ("{file}:NUMBER", r"names a int, not a class or function"),
    ("{file}:make_dict", r"make_dict\(\) returned a dict, not an nn.Module: make it return the model"),
    ("{file}:make_broken", r"make_broken\(\) raised RuntimeError: weights folder missing: "),
    ("{file}:NeedsDepth",
     r"NeedsDepth\(\) raised TypeError: .*missing 1 required positional argument: 'depth': "
     r"give its arguments defaults"),
    ("{dir}/nothing.py:Net", r"model file .*nothing.py not found"),
    ("{dir}/syntax.py:Net", r"importing .*syntax.py failed \(SyntaxError: .*\): fix the file"),
    ("{dir}/needs_dep.py:Net",
     r"importing .*needs_dep.py failed \(ModuleNotFoundError: No module named 'not_installed_pkg'\): "
     r"install it"),
    ("{dir}:Net", r"is a directory"),
    (":Net", r"is not a built-in model"),
]


@pytest.mark.parametrize("spec, pattern", SPEC_ERRORS, ids=[p[0].split(":")[-1] or p[0] for p in SPEC_ERRORS])
def test_spec_failures_name_the_problem_and_the_fix(spec, pattern, models_file):
    folder = models_file.parent
    (folder / "syntax.py").write_text("def broken(:\n")
    (folder / "needs_dep.py").write_text("import not_installed_pkg\n")
    with pytest.raises(ModelSpecError, match=pattern) as excinfo:
        load_model(spec.format(file=models_file, dir=folder))
    assert "\n" not in str(excinfo.value)
    assert not [m for m in sys.modules if m.startswith(("wavevis_user_syntax", "wavevis_user_needs_dep"))]


def test_bare_module_name_of_a_local_file_suggests_the_file_spec(models_file, monkeypatch):
    monkeypatch.chdir(models_file.parent)
    with pytest.raises(ModelSpecError, match=r"to use ./my_models.py write the spec as my_models.py:Net"):
        load_model("my_models:Net")


def test_load_report_is_a_frozen_result(posted, tmp_path):
    path = tmp_path / "p.pt"
    torch.save(posted.state_dict(), path)
    _, report = load_model_with_report(weights=path)
    assert isinstance(report, LoadReport)
    with pytest.raises(AttributeError):
        report.missing = ("x",)  # type: ignore[misc]
