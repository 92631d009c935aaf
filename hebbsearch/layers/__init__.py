"""Hebbian layers: pure ``forward``, explicit ``hebbian_step(x, lr)``; every rule works in every layer."""

from hebbsearch.layers._activations import ReLUPower, Triangle, get_activation, list_activations
from hebbsearch.layers._base import HebbianLayer
from hebbsearch.layers._biopytorch import BioConv2d, BioLinear
from hebbsearch.layers._conv import HebbianConv2d
from hebbsearch.layers._linear import HebbianLinear

__all__ = [
    "BioConv2d",
    "BioLinear",
    "HebbianConv2d",
    "HebbianLayer",
    "HebbianLinear",
    "ReLUPower",
    "Triangle",
    "get_activation",
    "list_activations",
]
