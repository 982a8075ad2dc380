"""Typed records passed between stages: a recorded call's identity and its per-layer statistics row."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal, Mapping, Protocol

__all__ = ["Bands", "CallInfo", "CheckDetails", "CheckResult", "Kind", "LayerStats", "SPECTRAL_FIELDS", "Shape",
           "call_name"]

Kind = Literal["conv", "act", "pool", "wavepool"]
# Names of subbands in SUBBANDS order, e.g. ("LL",) for an LL-only pool or all four for a concat.
# Multi-level pools name the last level's LL "LL" and their details by level: "LH1", "HL1", … "HH2".
Bands = tuple[str, ...]
# Per-layer columns that exist only when spectra were computed (wavevis/spectrum.py).
SPECTRAL_FIELDS: tuple[str, ...] = ("spectral_centroid", "alias_fraction")


@dataclass(frozen=True)
class CallInfo:
    """Identity of one recorded call: forward order, module name, call number, kind, output shape."""

    index: int
    layer: str
    call: int
    kind: Kind
    type: str
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class LayerStats:
    """One call's per-layer statistics for one image (or merged over a dataset).

    The attributes are the per-layer CSV columns (docs/contract.md); `as_row()` gives the CSV/JSON
    row. Undefined values are None (blank cells). `passes` (not a column) names the bands a wavelet
    pool passes on, None where its output matched no known layout or the call is no wavelet pool.

    Appended for pools recognised by behaviour (README "Which layers count as wavelet pools"):
    `levels` (its number of 2× steps, J), `in_detail_energy_1` … `_3` (the LH+HL+HH energy of its
    input at levels 1–3; in_ll_energy is then the last level's LL and in_lh/hl/hh_energy the sums
    over levels) and `note` (what a downsampling layer is, in words). Not columns: `returns` (the
    bands the layer returns, in `passes` names) and `in_level_energies` (per level, the LL, LH, HL,
    HH energies of its input).

    `spectral_centroid` and `alias_fraction` are columns only when `spectra` (not a column) is
    True, i.e. when the analysis computed spectra (`analyze(..., spectra=True)`, `--spectra`).
    """

    image: str
    index: int
    layer: str
    call: int
    kind: Kind
    type: str
    channels: int
    height: int | None  # None in a summary whose images gave this call maps of different sizes
    width: int | None
    sum: float
    mean: float
    mean_abs: float
    std: float
    min: float
    max: float
    zero_fraction: float
    dead_fraction: float
    ll_energy: float | None
    lh_energy: float | None
    hl_energy: float | None
    hh_energy: float | None
    detail_fraction: float | None
    detail_fraction_ac: float | None
    in_ll_energy: float | None = None
    in_lh_energy: float | None = None
    in_hl_energy: float | None = None
    in_hh_energy: float | None = None
    discarded_fraction: float | None = None
    discarded_fraction_ac: float | None = None
    passes: Bands | None = None
    levels: int | None = None
    in_detail_energy_1: float | None = None
    in_detail_energy_2: float | None = None
    in_detail_energy_3: float | None = None
    note: str | None = None
    returns: Bands | None = None
    in_level_energies: tuple[tuple[float, float, float, float], ...] | None = None
    spectral_centroid: float | None = None
    alias_fraction: float | None = None
    spectra: bool = False

    @property
    def is_pool(self) -> bool:
        """A pooling call of any kind (wavelet or not)."""
        return self.kind in ("pool", "wavepool")

    @property
    def in_energies(self) -> tuple[float, float, float, float] | None:
        """(LL, LH, HL, HH) energies of a wavelet pool's input bands, None for other calls."""
        values = (self.in_ll_energy, self.in_lh_energy, self.in_hl_energy, self.in_hh_energy)
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

    def as_row(self) -> dict[str, object]:
        """The CSV/JSON row: every column, in attribute order, the typed extras left out (and the
        spectral columns, unless spectra were computed)."""
        skip = _NOT_COLUMNS if self.spectra else _NOT_COLUMNS | set(SPECTRAL_FIELDS)
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


_NOT_COLUMNS = frozenset({"passes", "returns", "in_level_energies", "spectra"})


class _NamedCall(Protocol):
    layer: str
    call: int


def call_name(info: _NamedCall) -> str:
    """The one name of a recorded call everywhere (charts, menus, findings): "conv1_1", "relu#9".

    A module's first call is named by its module alone and each later call of the same module gets
    "#n" (its `call` column), as torchvision's feature extraction numbers repeated calls. The name
    is unique within a forward pass and never depends on its neighbours.

    Args:
        info: a CallInfo, a LayerStats or anything with `layer` and `call`.
    """
    return info.layer if info.call == 1 else f"{info.layer}#{info.call}"


Shape = tuple[int, ...]


@dataclass(frozen=True)
class CheckDetails:
    """What a check measured, beyond its words.

    Attributes:
        wavelet: `filters`: the wavelet the kernels were compared with.
        passes: `output-size`: the bands the pool's output consists of (None: neither LL alone nor
            all four concatenated, or not measurable).
        grows: `output-size`: the pool makes its maps larger (the forward pass would run away).
        ll_vs_2avg: `filters` of a Haar pool: max |LL(x) − 2·avg_pool2d(x)| / max |2·avg_pool2d(x)|.
        groups: `depthwise`: each band conv's `groups`.
        holds: `filters`/`labels`: the band each attribute's kernel holds, e.g. {"LH": "−HL"}.
        probe_shapes, model_shapes: `output-size`: (input, output) shapes on the 16×16 test input
            and in the model's own forward pass.
        measured: other numbers the check compared, by name (e.g. "LL.channel_spread", "max_error").
    """

    wavelet: str | None = None
    passes: Bands | None = None
    grows: bool = False
    ll_vs_2avg: float | None = None
    groups: Mapping[str, int] = field(default_factory=dict)
    holds: Mapping[str, str] = field(default_factory=dict)
    probe_shapes: tuple[Shape, Shape] | None = None
    model_shapes: tuple[Shape, Shape] | None = None
    measured: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one sanity check on one pooling layer.

    Attributes:
        layer: dotted module name of the pool.
        check: one of CHECKS.
        passed: True when the layer does what a wavelet pool must.
        text: what passed, or what is wrong and the fix.
        details: what it measured.
    """

    layer: str
    check: str
    passed: bool
    text: str
    details: CheckDetails = field(default_factory=CheckDetails)
