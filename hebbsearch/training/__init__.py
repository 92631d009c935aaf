"""Training: layer-wise Hebbian learning, feature extraction once, and a linear probe on the features;
the same for sequences (:mod:`._sequence`), with a GRU head and the backprop-through-time baseline."""

from hebbsearch.training._diagnostics import LayerDiagnostics, duplicate_fraction, layer_diagnostics
from hebbsearch.training._features import extract_features
from hebbsearch.training._hebbian import LR_SCHEDULES, scheduled_lr, train_hebbian
from hebbsearch.training._probe import (
    OPTIMIZERS,
    PROBE_SCHEDULES,
    ProbeResult,
    accuracy,
    make_probe,
    train_probe,
)
from hebbsearch.training._sequence import (
    BaselineResult,
    GRUHead,
    backprop_twin,
    block_outputs,
    probe_row_mask,
    sequence_accuracy,
    sequence_features,
    sequence_targets,
    train_sequence_hebbian,
    train_sequence_model,
    unigram_accuracy,
)

__all__ = [
    "BaselineResult",
    "GRUHead",
    "LayerDiagnostics",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "PROBE_SCHEDULES",
    "ProbeResult",
    "accuracy",
    "backprop_twin",
    "block_outputs",
    "duplicate_fraction",
    "extract_features",
    "layer_diagnostics",
    "make_probe",
    "probe_row_mask",
    "scheduled_lr",
    "sequence_accuracy",
    "sequence_features",
    "sequence_targets",
    "train_hebbian",
    "train_probe",
    "train_sequence_hebbian",
    "train_sequence_model",
    "unigram_accuracy",
]
