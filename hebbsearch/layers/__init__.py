"""Hebbian layers: pure ``forward``, explicit ``hebbian_step(x, lr)``; every rule works in every layer.

Two modules learn in ``forward`` by design: :class:`HebbianLateral` (its lateral weights, in training
mode, as the Keras layer it ports) and :class:`MemoriaLayer` (a memory written on every call).
"""

from hebbsearch.layers._activations import ReLUPower, Triangle, get_activation, list_activations
from hebbsearch.layers._base import HebbianLayer
from hebbsearch.layers._biopytorch import BioConv2d, BioLinear
from hebbsearch.layers._conv import HebbianConv2d
from hebbsearch.layers._lateral import HebbianLateral
from hebbsearch.layers._linear import HebbianLinear
from hebbsearch.layers._memoria import MemoriaLayer
from hebbsearch.layers._recurrent import HebbianRNN

__all__ = [
    "BioConv2d",
    "BioLinear",
    "HebbianConv2d",
    "HebbianLateral",
    "HebbianLayer",
    "HebbianLinear",
    "HebbianRNN",
    "MemoriaLayer",
    "ReLUPower",
    "Triangle",
    "get_activation",
    "list_activations",
]
