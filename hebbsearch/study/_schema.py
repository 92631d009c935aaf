"""The validated study file: :class:`StudyConfig`, one frozen dataclass per TOML section."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hebbsearch.models import preset_from_layers
from hebbsearch.study._specs import Fixed, Spec


@dataclass(frozen=True)
class SamplerConfig:
    name: str = "tpe"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrunerConfig:
    name: str = "median"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySection:
    name: str
    direction: str = "maximize"
    n_trials: int = 20
    timeout: float | None = None
    seed: int = 0
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)


@dataclass(frozen=True)
class DataSection:
    dataset: str
    root: str | None = None
    val_split: int | float = 0.1
    subset: int | None = None
    batch_size: int = 1000
    normalize: str = "standard"
    # sequence datasets (hebbsearch.study._sequences): text sets seq_len, images read as sequences set
    # sequential; None elsewhere
    seq_len: int | None = None
    sequential: str | None = None
    file: str | None = None
    probe_rows: int | None = None

    @property
    def kind(self) -> str:
        """``"text"``, ``"sequence"`` (images row by row or pixel by pixel) or ``"image"``."""
        return "text" if self.seq_len is not None else "sequence" if self.sequential is not None else "image"


@dataclass(frozen=True)
class ModelSection:
    preset: str
    """A preset's name, or ``"layers"`` when the file writes the architecture out as ``[[model.layers]]``."""
    probe_after: Spec = Fixed(1)
    options: dict[str, Spec] = field(default_factory=dict)
    layers: tuple[dict[str, Any], ...] | None = None
    # sequence models: "backprop" also trains the same stack end to end once per study
    baseline: str = "none"
    baseline_epochs: int | None = None
    baseline_lr: float = 0.001

    def architecture(self) -> Any:
        """What :func:`hebbsearch.models.build_stack` takes as ``preset``: the name, or the layers."""
        if self.layers is None:
            return self.preset
        return preset_from_layers(self.layers, name=self.preset)


@dataclass(frozen=True)
class HebbianSection:
    epochs: Spec = Fixed(1)
    lr: Spec = Fixed(0.02)
    lr_schedule: Spec = Fixed("linear")
    batch_size: Spec = Fixed(100)


@dataclass(frozen=True)
class ProbeSection:
    epochs: Spec = Fixed(10)
    optimizer: Spec = Fixed("adam")
    lr: Spec = Fixed(1e-3)
    lr_schedule: Spec = Fixed("cosine")
    batch_size: Spec = Fixed(256)
    weight_decay: Spec = Fixed(0.0)
    dropout: Spec = Fixed(0.0)
    augment: Spec = Fixed("none")
    """``"flip"``: the probe also trains on the features of every training image mirrored left-right."""


@dataclass(frozen=True)
class SearchSection:
    rules: tuple[str, ...]
    rule_params: dict[str, dict[str, Spec]]
    """rule name → hyperparameter (or extra constructor keyword) → spec, defaults filled in."""
    every_depth: bool = False
    """each completed trial's settings are queued again at the other ``probe_after`` positions"""


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file."""

    source: str
    text: str
    study: StudySection
    data: DataSection
    model: ModelSection
    hebbian: HebbianSection
    probe: ProbeSection
    search: SearchSection

    def replace_study(self, **changes: Any) -> StudyConfig:
        """A copy with fields of ``[study]`` changed (e.g. ``n_trials`` from the command line)."""
        return replace(self, study=replace(self.study, **changes))


__all__ = [
    "DataSection",
    "HebbianSection",
    "ModelSection",
    "ProbeSection",
    "PrunerConfig",
    "SamplerConfig",
    "SearchSection",
    "StudyConfig",
    "StudySection",
]
