"""Local learning rules: one small object each, one registry.

``get_rule("krotov", p=3, k=7, delta=0.4)`` builds a rule; ``list_rules()`` names them all.
"""

from hebbsearch.rules._base import HyperParameter, Rule
from hebbsearch.rules._registry import get_rule, get_rule_class, list_rules, register_rule
from hebbsearch.rules._krotov import Krotov

__all__ = [
    "HyperParameter",
    "Krotov",
    "Rule",
    "get_rule",
    "get_rule_class",
    "list_rules",
    "register_rule",
]
