"""hebbsearch: hyperparameter search for Hebbian (local, backprop-free) learning networks."""

from hebbsearch.errors import DivergenceError, HebbsearchError
from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.rules import Rule, get_rule, list_rules

__version__ = "0.1.0"

__all__ = [
    "DivergenceError",
    "HebbianConv2d",
    "HebbianLinear",
    "HebbsearchError",
    "Rule",
    "get_rule",
    "list_rules",
]
