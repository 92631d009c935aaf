"""Local learning rules: one small object each, one registry.

``get_rule("krotov", p=3, k=7, delta=0.4)`` builds a rule; ``list_rules()`` names them all.
"""

from hebbsearch.rules._base import HyperParameter, Rule
from hebbsearch.rules._registry import get_rule, get_rule_class, list_rules, register_rule
from hebbsearch.rules._krotov import Krotov
from hebbsearch.rules._hebb import Hebb
from hebbsearch.rules._oja import Oja
from hebbsearch.rules._sanger import Sanger
from hebbsearch.rules._wta import WTA
from hebbsearch.rules._softhebb import SoftHebb
from hebbsearch.rules._covariance import Covariance
from hebbsearch.rules._bcm import BCM

__all__ = [
    "BCM",
    "Covariance",
    "Hebb",
    "HyperParameter",
    "Krotov",
    "Oja",
    "Rule",
    "Sanger",
    "SoftHebb",
    "WTA",
    "get_rule",
    "get_rule_class",
    "list_rules",
    "register_rule",
]
