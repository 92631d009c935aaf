"""Training: layer-wise Hebbian learning, feature extraction once, and a linear probe on the features."""

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

__all__ = [
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "PROBE_SCHEDULES",
    "ProbeResult",
    "accuracy",
    "extract_features",
    "make_probe",
    "scheduled_lr",
    "train_hebbian",
    "train_probe",
]
