"""The learning-rule contract.

A rule is a small object holding its hyperparameters. Its one essential method is pure::

    rule.update(weight, x) -> dW     # weight (K, N), x (M, N) presynaptic rows, dW (K, N)

``dW`` is the change for one step *before* the learning rate; layers do ``weight += lr * dW``. Rules do no
I/O, no optimizer step and no autograd, so the same object serves every layer: a conv layer hands it
the unfolded patches of its input as rows.

Everything else has a default built on :meth:`Rule.update`: layers call :meth:`Rule.sparse_update`, which
a rule may override to return only the rows that change (Krotov's rule touches at most 2·M units), and
may pass ``currents`` (``x @ transform(weight).T``) that they computed with a faster native op.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor


@dataclass(frozen=True)
class HyperParameter:
    """A rule hyperparameter: its type, default, valid bounds and default search range.

    ``valid_low``/``valid_high`` bound what the rule accepts (construction fails outside them);
    ``low``/``high`` (and ``log``) are the default search range a study samples from.
    ``low_exclusive`` marks a strict lower bound (e.g. a temperature must be > 0).
    """

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    log: bool = False
    valid_low: float | None = None
    valid_high: float | None = None
    low_exclusive: bool = False
    help: str = ""

    def check(self, value: Any, owner: str) -> Any:
        """Return ``value`` converted to the declared type, or raise ValueError naming the parameter."""
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
                raise ValueError(f"{owner}: {self.name} must be an integer, got {value!r}")
            value = int(value)
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{owner}: {self.name} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{owner}: {self.name} must be finite, got {value!r}")
        if self.valid_low is not None:
            too_low = value <= self.valid_low if self.low_exclusive else value < self.valid_low
            if too_low:
                op = ">" if self.low_exclusive else ">="
                raise ValueError(f"{owner}: {self.name} must be {op} {self.valid_low}, got {value!r}")
        if self.valid_high is not None and value > self.valid_high:
            raise ValueError(f"{owner}: {self.name} must be <= {self.valid_high}, got {value!r}")
        return value


class Rule(ABC):
    """Base class of local learning rules.

    Subclasses set ``name`` and ``hyperparameters`` and implement :meth:`update`. The constructor takes
    the declared hyperparameters as keyword arguments (missing ones get their defaults) and validates
    them, so impossible values fail at construction with the parameter named.
    """

    name: ClassVar[str] = ""
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = ()
    #: Keyword-only constructor options that are not searched but change what the rule computes (e.g.
    #: Krotov's ``norm_scope``): part of :attr:`params`, repr and equality, so a round trip through
    #: ``get_rule(name, **rule.params)`` keeps them. Each is stored as an attribute of that name.
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        declared = {hp.name: hp for hp in self.hyperparameters}
        unknown = sorted(set(params) - set(declared))
        if unknown:
            raise ValueError(
                f"rule {self.name!r} has no hyperparameter {unknown[0]!r}; "
                f"known: {', '.join(declared) or 'none'}"
            )
        for hp in self.hyperparameters:
            setattr(self, hp.name, hp.check(params.get(hp.name, hp.default), f"rule {self.name!r}"))

    # -- the contract -------------------------------------------------------------------------------

    @abstractmethod
    def update(
        self,
        weight: Tensor,
        x: Tensor,
        *,
        currents: Tensor | None = None,
        state: dict[str, Tensor] | None = None,
    ) -> Tensor:
        """Return dW, shape (K, N), for presynaptic rows ``x`` (M, N). Pure: no argument is modified.

        Args:
            weight: the (K, N) weight matrix, one row per unit.
            x: (M, N) presynaptic rows (samples, or patches for a conv layer).
            currents: optionally ``x @ self.transform(weight).T`` (M, K), computed by the caller.
            state: the rule's running state (see :meth:`init_state`); ``None`` uses batch estimates.
        """

    # -- helpers with defaults ------------------------------------------------------------------------

    def transform(self, weight: Tensor) -> Tensor:
        """The synaptic weights as the layer applies them (Krotov: sign(W)|W|^(p-1)); identity here."""
        return weight

    def currents(self, weight: Tensor, x: Tensor) -> Tensor:
        """Input currents ``x @ transform(weight).T``, shape (M, K)."""
        return x @ self.transform(weight).T

    def sparse_update(
        self,
        weight: Tensor,
        x: Tensor,
        *,
        currents: Tensor | None = None,
        state: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor | None, Tensor]:
        """Return ``(rows, dW_rows)``: only the rows of dW that may be non-zero.

        ``rows`` is a 1-D tensor of distinct row indices, or ``None`` meaning all rows. The default is
        dense.
        """
        return None, self.update(weight, x, currents=currents, state=state)

    def check_units(self, units: int) -> None:
        """Raise ValueError if this rule cannot work with ``units`` output units (e.g. k >= K)."""

    def init_state(self, weight: Tensor) -> dict[str, Tensor]:
        """Running state of a stateful rule (e.g. BCM's threshold), first dim = units. Empty by default."""
        return {}

    def next_state(
        self, state: dict[str, Tensor], weight: Tensor, x: Tensor, currents: Tensor
    ) -> dict[str, Tensor]:
        """The state after a step on ``x``; stateless rules return ``state`` unchanged."""
        return state

    def project(self, weight: Tensor) -> None:
        """Constraint applied in place after ``weight += lr * dW`` (e.g. unit norm); none by default."""

    def convergence(self, weight: Tensor) -> float:
        """How far the weights are from this rule's fixed-point norm: max_k |‖w_k‖₂ − 1|."""
        return float((weight.norm(dim=1) - 1).abs().max())

    @property
    def params(self) -> dict[str, Any]:
        """The hyperparameters, then the :attr:`options`, as a dict: ``get_rule(name, **params)`` rebuilds
        an equal rule."""
        params = {hp.name: getattr(self, hp.name) for hp in self.hyperparameters}
        params.update((name, getattr(self, name)) for name in self.options)
        return params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params == self.params  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(self.params.items())))


def batch_mean(x: Tensor) -> float:
    """1 / number of rows, so updates are averages over the batch (lr independent of batch size)."""
    return 1.0 / max(1, x.shape[0])


def currents_gram(hebb: Tensor, currents: Tensor, weight: Tensor) -> Tensor:
    """yᵀy (K, K) for currents y = x·Wᵀ (M, K), given ``hebb`` = yᵀx (K, N) that the rule has already.

    Since y = x·Wᵀ, yᵀy = (yᵀx)·Wᵀ: K·K·N multiply-adds instead of K·K·M. The rules' contract says the
    currents a layer passes are exactly ``x @ transform(weight).T`` (identity transform for the rules that
    use this), so both are the same matrix up to rounding; the cheaper product is taken (on a Hebbian RNN
    step M = B·T is 8 192 rows against N ≈ 1 000 inputs, and the Gram matrix was a third of the update).
    """
    if currents.shape[0] > weight.shape[1]:
        return hebb @ weight.T
    return currents.T @ currents


def check_update_shapes(weight: Tensor, x: Tensor) -> None:
    """Raise ValueError unless weight is (K, N) and x is (M, N)."""
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (K, N), got {tuple(weight.shape)}")
    if x.dim() != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"x must have shape (M, {weight.shape[1]}), got {tuple(x.shape)}")


def as_currents(rule: Rule, weight: Tensor, x: Tensor, currents: Tensor | None) -> Tensor:
    """Validate shapes and return the currents, computing them if the caller did not."""
    check_update_shapes(weight, x)
    if currents is None:
        return rule.currents(weight, x)
    if currents.shape != (x.shape[0], weight.shape[0]):
        raise ValueError(
            f"currents must have shape ({x.shape[0]}, {weight.shape[0]}), got {tuple(currents.shape)}"
        )
    return currents


def normalise_rows_(weight: Tensor, eps: float = 1e-12) -> None:
    """Scale each row of ``weight`` to unit L2 norm, in place."""
    weight.div_(weight.norm(dim=1, keepdim=True).clamp_min(eps))


__all__ = ["HyperParameter", "Rule"]
