"""WavePool sanity checks: one deliberately broken pool per check, the posted model and `wavevis check`."""

import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from posted import PostedModel
from wavevis.cli import main
from wavevis.checks import CHECKS, check_pools, pool_candidates
from wavevis.pooling import WavePool2d
from wavevis.wavelets import SUBBANDS, analysis_filters

C = 8


class UserPool(nn.Module):
    """A hand-written Haar pool like the posted one, with one knob per way to get it wrong."""

    def __init__(self, channels=C, *, groups=True, transposed=False, holds=SUBBANDS, kernels=None,
                 stride=2, padding=0, bias=False):
        super().__init__()
        bank = analysis_filters("haar")[:, 0] if kernels is None else kernels
        net = nn.ConvTranspose2d if transposed else nn.Conv2d
        for name, source in zip(SUBBANDS, holds):
            conv = net(channels, channels, 2, stride=stride, padding=padding, bias=bias,
                       groups=channels if groups else 1)
            kernel = bank[SUBBANDS.index(source)] if isinstance(source, str) else source
            with torch.no_grad():
                conv.weight.copy_(kernel.expand_as(conv.weight))
                if bias:
                    conv.bias.fill_(0.5)
            conv.weight.requires_grad_(False)
            setattr(self, name, conv)

    def forward(self, x):
        return self.LL(x)


class Net(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.conv = nn.Conv2d(3, C, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = pool

    def forward(self, x):
        return self.pool(self.relu(self.conv(x)))


def failing(results):
    return {r.check for r in results if not r.passed}


def by_check(results):
    return {r.check: r for r in results}


HAAR = analysis_filters("haar")[:, 0]
_gen = torch.Generator().manual_seed(1)
RANDOM = torch.randn(4, 2, 2, generator=_gen)


@pytest.mark.parametrize("pool", [WavePool2d(C), WavePool2d(C, keep="all"), UserPool(), WavePool2d(C, "db2")],
                         ids=["wave-ll", "wave-cat", "posted-style", "db2"])
def test_correct_pools_pass_every_check(pool):
    results = check_pools(Net(pool))
    assert [r.check for r in results] == list(CHECKS)
    assert all(r.passed for r in results), [r.text for r in results if not r.passed]
    assert all(r.layer == "pool" and r.text.startswith("pool") for r in results)


def test_passing_texts_say_what_was_found():
    results = by_check(check_pools(Net(WavePool2d(C, keep="all"))))
    assert "LL=LL, LH=LH, HL=HL, HH=HH" in results["filters"].text
    assert results["output-size"].details.passes == ("LL", "LH", "HL", "HH")
    assert results["depthwise"].details.groups == dict.fromkeys(SUBBANDS, C)
    ll_only = by_check(check_pools(Net(WavePool2d(C))))
    assert ll_only["output-size"].details.passes == ("LL",)
    assert ll_only["filters"].details.ll_vs_2avg < 1e-6  # Haar LL == 2 × AvgPool2d


def test_biorthogonal_wavelets_need_no_orthonormality():
    results = by_check(check_pools(Net(WavePool2d(C, "bior2.2"))))
    assert all(r.passed for r in results.values())
    assert "biorthogonal" in results["orthonormal"].text


# One broken pool per check: which checks must fail, and words its text must hold.
BROKEN = {
    "groups missing": (lambda: UserPool(groups=False), {"depthwise"}, ["without groups=8", "groups=in_channels"]),
    "transposed conv": (lambda: UserPool(transposed=True), {"conv-type", "output-size"},
                        ["ConvTranspose2d", "else:", "16×16 map into 32×32"]),
    "LH/HL swapped": (lambda: UserPool(holds=("LL", "HL", "LH", "HH")), {"labels"},
                      ["pool.LH holds the HL filter", "pool.HL holds the LH filter"]),
    "LL holds HH": (lambda: UserPool(holds=("HH", "LH", "HL", "LL")), {"labels"},
                    ["pool.LL holds the HH filter", "instead of the LL approximation"]),
    "random filters": (lambda: UserPool(kernels=RANDOM), {"filters", "orthonormal"},
                       ["matches no haar band", "analysis_filters('haar')"]),
    "halved filters": (lambda: UserPool(kernels=HAAR / 2), {"filters", "orthonormal"}, ["0.5 × the haar LL filter"]),
    "duplicate band": (lambda: UserPool(holds=("LL", "LH", "LH", "HH")), {"filters", "orthonormal", "reconstruction"},
                       ["all hold the LH filter", "HL is missing", "no inverse exists"]),
    "padding": (lambda: UserPool(padding=1), {"output-size"}, ["16×16 map into 9×9, not 8×8", "padding=0"]),
    "stride 1": (lambda: UserPool(stride=1), {"conv-type", "output-size"}, ["stride (1, 1)", "into 15×15"]),
    "bias": (lambda: UserPool(bias=True), {"conv-type"}, ["bias=False"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_pool_fails_its_check_and_says_the_fix(case):
    build, expected, words = BROKEN[case]
    results = check_pools(Net(build()))
    assert failing(results) == expected, [(r.check, r.text) for r in results if not r.passed]
    text = " ".join(r.text for r in results if not r.passed)
    for word in words:
        assert word in text, (word, text)


def test_channels_with_different_kernels_fail_filters():
    pool = UserPool()
    with torch.no_grad():
        pool.LH.weight[3] = -pool.LH.weight[3] * 0.3  # one channel re-drawn
    result = by_check(check_pools(Net(pool)))["filters"]
    assert not result.passed and "kernels of pool.LH differ (kernel 3" in result.text


def test_dense_but_diagonal_conv_counts_as_depthwise():
    pool = UserPool(groups=False)
    with torch.no_grad():
        for name in SUBBANDS:
            w = getattr(pool, name).weight
            w.mul_(torch.eye(C)[:, :, None, None])  # zero every cross-channel weight
    results = check_pools(Net(pool))
    assert not failing(results)
    assert "stored densely" in by_check(results)["depthwise"].text


def test_missing_groups_is_also_seen_in_the_outputs():
    result = by_check(check_pools(Net(UserPool(groups=False)), x=torch.rand(1, 3, 12, 12)))["depthwise"]
    assert result.details.measured["LL.channel_spread"] == 0.0  # every output channel is the same map
    assert result.details.measured["channel_spread_in_model"] < 1e-12
    assert "all the same sum" in result.text


def test_sign_and_flip_are_tolerated_and_reported():
    pool = UserPool(kernels=torch.stack([HAAR[0], -HAAR[1], HAAR[2], HAAR[3]]))
    results = by_check(check_pools(Net(pool)))
    assert not failing(results.values())
    assert "LH holds −LH: a sign flip changes no energy" in results["filters"].text


def test_flipped_and_negated_bands_name_both_changes():
    pool = WavePool2d(C, "db2")  # 4×4 kernels: unlike Haar's, a flip is not just a sign flip
    with torch.no_grad():
        pool.HL.weight.copy_(-pool.HL.weight.flip(-2, -1))
    results = by_check(check_pools(Net(pool)))
    assert results["filters"].passed
    assert "HL holds −HL flipped: a sign flip and a flip change no energy" in results["filters"].text


def test_in_context_forward_stops_at_a_growing_pool_and_survives_crashes():
    class Crashes(Net):
        def forward(self, x):
            super().forward(x)
            raise RuntimeError("boom after the pool")

    results = by_check(check_pools(Crashes(UserPool(transposed=True)), x=torch.rand(2, 3, 10, 10)))
    assert results["output-size"].details.model_shapes[1][-2:] == (20, 20)
    assert results["output-size"].details.grows is True
    assert "the image's 10×10 map into 20×20" in results["output-size"].text
    results = check_pools(Crashes(UserPool()), x=torch.rand(1, 3, 10, 10))  # no exception
    assert not failing(results)


class HaarPooling(nn.Module):  # no LL/LH/HL/HH convs: Haar LL as 2 × the 2×2 average
    def __init__(self, grow=False):
        super().__init__()
        self.grow = grow

    def forward(self, x):
        y = 2 * F.avg_pool2d(x, 2)
        return F.interpolate(x, scale_factor=2.0) if self.grow else y


def test_a_pool_without_conv_attributes_is_recognised_by_behaviour_and_fully_checked():
    results = by_check(check_pools(Net(HaarPooling())))  # found on a test image: no input needed
    assert set(results) == {"depthwise", "filters", "labels", "orthonormal", "reconstruction", "output-size"}
    assert all(r.passed for r in results.values()), [r.text for r in results.values() if not r.passed]
    assert "are the haar analysis bank (LL=LL)" in results["filters"].text
    assert results["output-size"].details.passes == ("LL",)


def test_pools_only_named_like_wavelet_pools_get_an_output_size_check():
    # A module named like a pool that makes its maps larger is no downsampler: only its size is checked.
    assert [(n, has) for n, _, has in pool_candidates(Net(HaarPooling(grow=True)))] == [("pool", False)]
    assert check_pools(Net(HaarPooling(grow=True))) == []  # nothing to see without an input
    (bad,) = check_pools(Net(HaarPooling(grow=True)), x=torch.rand(1, 3, 8, 8))
    assert bad.check == "output-size" and not bad.passed and "upsamples" in bad.text
    assert "no LL/LH/HL/HH conv attributes" in bad.text


def test_checks_do_not_change_the_model():
    model = Net(UserPool(groups=False)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_pools(model, x=torch.rand(1, 3, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("variant, expected", [
    ({}, set()),
    ({"groups_restored": False}, {"depthwise"}),
    ({"else_restored": False}, {"conv-type", "output-size"}),
])
def test_posted_model_and_its_lost_lines(variant, expected):
    results = check_pools(PostedModel(**variant))
    for layer in ("pool1", "pool2", "pool3"):
        assert failing(r for r in results if r.layer == layer) == expected


# -- the CLI -----------------------------------------------------------------------------------------


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def posted_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "posted_models.py"
    path.write_text(
        "from posted import PostedModel\n"
        "def Restored():\n    return PostedModel()\n"
        "def GroupsLost():\n    return PostedModel(groups_restored=False)\n"
        "def ElseLost():\n    return PostedModel(else_restored=False)\n"
    )
    return path


def fail_lines(out):
    return [line for line in out.splitlines() if line.lstrip().startswith("FAIL")]


def test_check_cli_passes_the_restored_posted_model(posted_file):
    code, out, err = run(["check", "--model", f"{posted_file}:Restored", "--size", "32"])
    assert code == 0, err
    assert not fail_lines(out) and "Result: all 21 checks passed." in out
    assert "grace_hopper.jpg (32×32)" in out  # the default sample image
    assert "The filters are right; the loss of detail is the pooling, by design" in out


@pytest.mark.parametrize("name, checks, finding", [
    ("GroupsLost", ["depthwise"], "multiplies the activation scale ×128"),
    ("ElseLost", ["conv-type", "output-size"], "No statistics: a pool makes its maps larger"),
])
def test_check_cli_fails_the_posted_model_with_lost_lines(posted_file, name, checks, finding):
    code, out, err = run(["check", "--model", f"{posted_file}:{name}", "--size", "32"])
    assert code == 1, err
    fails = fail_lines(out)
    assert len(fails) == 3 * len(checks)
    for layer in ("pool1", "pool2", "pool3"):
        for check in checks:
            assert any(check in line and layer in line for line in fails), (layer, check, fails)
    assert "failed, on pool1, pool2, pool3." in out
    assert "The pooling layers are built wrong: pool1, pool2 and pool3" in out
    assert finding in out
    assert "Traceback" not in err


def test_check_cli_on_a_model_without_wavelet_pools(tmp_path):
    code, out, _ = run(["check", "--pool", "max", "--size", "16"])
    assert code == 0 and "no wavelet pools found" in out and "Result: no wavelet pools to check." in out


@pytest.mark.parametrize("argv, words", [
    (["check", "--image", "missing.png"], "missing.png"),
    (["check", "--model", "no_such_module_xyz:Net"], "no_such_module_xyz"),
    (["check", "--wavelet", "nope"], "nope"),
])
def test_check_cli_bad_input_is_one_line_and_exit_2(argv, words):
    code, out, err = run([*argv, "--size", "16"])
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err


def test_unknown_wavelet_is_refused():
    with pytest.raises(ValueError, match="unknown wavelet 'nope'"):
        check_pools(Net(UserPool()), wavelet="nope")


def test_pool_naming_an_unknown_wavelet_fails_filters_and_is_checked_as_the_asked_one():
    pool = UserPool()
    pool.wavelet = "nope"
    results = by_check(check_pools(Net(pool), wavelet="haar", x=torch.rand(1, 3, 8, 8)))
    assert failing(results.values()) == {"filters"}
    text = results["filters"].text
    assert text.startswith("pool says wavelet='nope', which PyWavelets does not know: ")
    assert "Compared with haar instead" in text and "LL=LL, LH=LH, HL=HL, HH=HH" in text
    assert results["filters"].details.wavelet == "haar"
    assert set(results) == set(CHECKS)  # labels, orthonormal, reconstruction ran against haar


UNKNOWN_WAVELET_MODEL = """
import torch.nn as nn
from wavevis.pooling import WavePool2d


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool1 = WavePool2d(4)
        self.pool1.wavelet = "nope"

    def forward(self, x):
        return self.pool1(self.conv(x))
"""


def test_check_cli_on_a_pool_naming_an_unknown_wavelet(tmp_path):
    path = tmp_path / "nope_model.py"
    path.write_text(UNKNOWN_WAVELET_MODEL)
    code, out, err = run(["check", "--model", f"{path}:Net", "--size", "16"])
    assert code == 1, err
    assert "Traceback" not in err and "Traceback" not in out
    (fail,) = fail_lines(out)
    assert "filters" in fail and "pool1" in fail
    assert "pool1 says wavelet='nope', which PyWavelets does not know" in " ".join(out.split())
    assert "Result: 1 of 7 checks failed, on pool1." in out


def test_depthwise_conv_with_more_outputs_than_inputs_fails():
    pool = UserPool()
    pool.HH = nn.Conv2d(C, 2 * C, 2, stride=2, bias=False, groups=C)
    with torch.no_grad():
        pool.HH.weight.copy_(HAAR[3].expand_as(pool.HH.weight))
    result = by_check(check_pools(Net(pool)))["depthwise"]
    assert not result.passed and "makes 2 maps per input channel" in result.text
