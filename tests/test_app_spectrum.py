"""The Spectrum page in AppTest: its heat map against numpy's fft2, its table, lazy spectra, shift tests, variants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import wavevis
from wavevis.images import DEFAULT_SAMPLE, sample_image_path
from wavevis.shift import consistency
from wavevis.spectrum import BIN_EDGES
from wavevis_app import compute

from app_support import SMALL, chart_specs, fresh_caches, open_page, start_app  # noqa: F401 - fresh_caches: autouse

def start(weights: str | None = "Random init") -> AppTest:
    """The app at 64² on the posted wavevgg at its random init; None: the app's default, the trained demo."""
    return start_app(SMALL, weights)


def specs(block) -> list[dict]:
    """The Vega-Lite specs drawn in a block, every dataset's rows under "datasets" (the top-level one as "(top level)")."""
    out = chart_specs(block)
    for spec in out:
        if "rows" in spec:
            spec["datasets"]["(top level)"] = spec.pop("rows")
    return out


def inline_rows(spec: object) -> list[dict]:
    """Every data row of a spec, all datasets and every layer's inline `values` together."""
    if isinstance(spec, list):
        return [row for item in spec for row in inline_rows(item)]
    if not isinstance(spec, dict):
        return []
    rows = [row for value in spec.get("datasets", {}).values() for row in value]
    for key, value in spec.items():
        if key == "values" and isinstance(value, list) and all(isinstance(v, dict) for v in value):
            rows += value
        elif key != "datasets":
            rows += inline_rows(value)
    return rows


def numpy_shares(y: np.ndarray) -> np.ndarray:
    """Each radial bin's share of a stride-1 map's power, from numpy's full fft2 (an independent reference)."""
    c, h, w = y.shape
    y = y - y.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(y)) ** 2).mean(axis=0) / (h * w) ** 2
    rho = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    binned = np.histogram(rho, bins=BIN_EDGES, weights=power)[0]
    return binned / binned.sum()


def test_spectrum_page_draws_numpy_spectra_and_computes_them_only_when_visited(monkeypatch):
    calls = []
    analyze = compute.analyze
    monkeypatch.setattr(compute, "analyze", lambda *a, **kw: calls.append(kw.get("spectra", False)) or analyze(*a, **kw))
    at = start()
    open_page(at, "subbands")
    assert calls == [False]  # the other pages never pay for spectra
    body = open_page(at, "spectrum")
    assert calls == [False, True] and not body.error
    heatmap, curves = specs(body)

    # The heat map's conv0 row (stride 1) equals numpy's binned fft2 of conv0's maps.
    x = wavevis.load_image(sample_image_path(DEFAULT_SAMPLE), size=SMALL)
    model = wavevis.build_model("wavevgg", seed=0)
    maps = wavevis.analyze(model, x, keep_maps=True).feature_maps(0).double().numpy()
    want = numpy_shares(maps)
    rows = [r for r in inline_rows(heatmap) if r.get("name") == "conv0" and "share" in r]
    assert len(rows) == int((np.histogram(np.hypot(np.fft.fftfreq(SMALL)[:, None], np.fft.fftfreq(SMALL)[None, :]),
                                          bins=BIN_EDGES)[0] > 0).sum())  # one cell per bin the map reaches
    got = np.zeros(len(want))
    for r in rows:
        got[r["bin"]] = r["share"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-9)
    names = {r["name"] for r in inline_rows(heatmap) if "share" in r}
    assert {"pool1", "pool2", "pool3", "relu#9"} <= names

    # The table: spectral columns of the same report, alias_fraction a share, leaks at the pools only.
    (frame,) = body.dataframe
    table: pd.DataFrame = frame.value.reset_index(drop=True)
    assert list(table.columns[:4]) == ["index", "layer", "call", "kind"]
    pools = table[table["kind"] == "wavepool"]
    assert list(pools["layer"]) == ["pool1", "pool2", "pool3"]
    assert pools["alias_leak"].notna().all() and table[table["kind"] == "conv"]["alias_leak"].isna().all()
    fractions = pd.to_numeric(table["alias_fraction"], errors="coerce").dropna()
    assert ((fractions >= 0) & (fractions <= 1)).all()
    conv0_power = maps - maps.mean(axis=(1, 2), keepdims=True)
    # conv0's alias_fraction: power with |f| above pool1's Nyquist (|k| > 16 of 64 along H or W), from numpy.
    spectrum = (np.abs(np.fft.fft2(conv0_power)) ** 2).mean(axis=0)
    k = np.abs(np.fft.fftfreq(SMALL) * SMALL)
    above = spectrum[(k[:, None] > SMALL // 4) | (k[None, :] > SMALL // 4)].sum() / spectrum.sum()
    assert table.loc[0, "alias_fraction"] == pytest.approx(above, rel=1e-4)

    # Captions carry the numbers: pool1's input above its Nyquist, as the table has it.
    text = " ".join(m.value for m in body.markdown)
    share = table.loc[table["layer"] == "pool1", "input_alias_fraction"].item()
    assert f"pool1 gets {share:.1%}" in text or f"pool1 gets {share:.0%}" in text
    # Default curves: the first call and each downsampling call's input and output; Nyquist rules at 0.25 …
    rules = sorted({r["nyquist"] for r in inline_rows(curves) if "nyquist" in r})
    assert rules == [0.0625, 0.125, 0.25]  # pool3, pool2, pool1: 0.5 / their strides 8, 4, 2
    assert [b.label for b in at.get("download_button")] == [
        "Download per-layer spectral CSV", "Download spectra CSV (call × frequency bin)"]


@pytest.mark.slow
def test_shift_tests_run_on_request_and_pool_variants_overlay():
    at = start()
    body = open_page(at, "spectrum")
    assert not body.get("metric")  # nothing runs until asked
    at.number_input(key="shift_pairs").set_value(6)
    at.selectbox(key="shift_period").set_value(2)
    at.button(key="shift_run").click().run()
    body = at.container(key="page-spectrum")
    assert not at.exception and not body.error
    x = wavevis.load_image(sample_image_path(DEFAULT_SAMPLE), size=SMALL)
    want = consistency(wavevis.build_model("wavevgg", seed=0), x, max_shift=8, pairs=6, seed=0)
    assert body.get("metric")[0].value == f"{want.consistency:.0%}"
    same = int((want.classes[:, 0] == want.classes[:, 1]).sum())
    assert any(c.value.startswith(f"{same} of 6 pairs of shifted crops") for c in body.caption)
    equi = [s for s in specs(body) if "facet" in s]
    assert len(equi) == 1
    errors = [r for r in inline_rows(equi[0]) if "error" in r]
    assert {r["shift_h"] for r in errors} == {0, 1} and {r["name"] for r in errors} >= {"pool1", "pool2", "pool3"}
    zero = [r["error"] for r in errors if r["shift_h"] == 0 and r["shift_w"] == 0]
    assert zero and all(e == 0 for e in zero)  # the unshifted input is its own shift
    at.run()  # a rerun keeps the results (the request is remembered, the tests cached)
    assert at.container(key="page-spectrum").get("metric")

    at.toggle(key="spectrum_cmp_on").set_value(True).run()
    body = at.container(key="page-spectrum")
    assert not at.exception and not body.error
    depth = [s for s in specs(body) if "hconcat" in s]
    assert len(depth) == 1
    rows = [r for r in inline_rows(depth[0]) if r.get("metric") == "spectral_centroid"]
    assert [m for m in dict.fromkeys(r["model"] for r in rows)] == ["wave-ll", "max", "avg", "blurpool", "wave-cat"]
    # wave-ll is 2 × AvgPool2d: the same spectra up to a factor 4 in power, so the same centroid at pool1.
    centroid = {r["model"]: r["value"] for r in rows if r["name"] == "pool1"}
    assert centroid["wave-ll"] == pytest.approx(centroid["avg"], rel=1e-5)
    assert not math.isclose(centroid["max"], centroid["avg"], rel_tol=1e-3)
    (words,) = [m.value for m in body.markdown if "Mean alias_leak over the downsampling calls" in m.value]
    assert "Drawn on top of each other (every centroid equal to 1e-6): wave-ll and avg" in words
