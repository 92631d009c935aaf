"""BasicHebbianGRUModel: a Hebbian input projection in front of a backprop-trained GRU head."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import Rule


class BasicHebbianGRUModel(nn.Module):
    """Hebbian projection → GRU → ReLU → fully connected, on sequences (B, T, input_dim).

    The documented model of the project this one replaces, with the same attributes::

        y   = x · weightsᵀ                        Hebbian projection, (B, T, hidden_dim)
        out = fc(relu(gru(y)))                    (B, T, output_dim)

    In training mode every ``forward`` first takes one local step of ``rule`` on the B·T rows of x
    (under ``torch.no_grad``: ``weights += lr · rule.update(weights, x)``, see
    :class:`~hebbsearch.layers.HebbianLinear`), then projects with the updated weights. With Oja's
    rule (the default) the rows of ``weights`` converge to the principal subspace of the inputs. The
    Hebbian weights are never part of the autograd graph (``weights.requires_grad`` is False): a loss
    on the output trains ``gru`` and ``fc`` by backpropagation, the supervised head. In eval mode
    ``forward`` is pure. (A rule with a synaptic transform, Krotov's, projects with
    ``transform(weights)`` as its layers do.)

    Attributes:
        weights: the Hebbian weights, an ``nn.Parameter`` (hidden_dim, input_dim) with requires_grad False.
        gru: ``nn.GRU(hidden_dim, hidden_dim, batch_first=True)``.
        fc: ``nn.Linear(hidden_dim, output_dim)``.
        hebbian: the :class:`~hebbsearch.layers.HebbianLinear` that holds ``weights`` and the rule.
        lr: the Hebbian learning rate (may be changed between calls).

    Args:
        input_dim: features per time step.
        hidden_dim: size of the projection and of the GRU state.
        output_dim: outputs per time step.
        rule: a rule object, a rule class or a registered name.
        lr: the Hebbian learning rate, >= 0 (0: the weights stay as initialised).
        rule_params: hyperparameters when ``rule`` is a name or class.
        seed: seed of the Hebbian weights' initialisation (rows of unit L2 norm).
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        rule: str | Rule | type[Rule] = "oja",
        lr: float = 1e-3,
        *,
        rule_params: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if output_dim < 1:
            raise ValueError(f"output_dim must be >= 1, got {output_dim}")
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr >= 0 or lr == float("inf"):
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
        self.input_dim, self.hidden_dim, self.output_dim = input_dim, hidden_dim, output_dim
        self.lr = float(lr)
        self.hebbian = HebbianLinear(input_dim, hidden_dim, rule, rule_params=rule_params, init="unit",
                                     seed=seed)
        self.gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    @property
    def weights(self) -> nn.Parameter:
        """The Hebbian weights (hidden_dim, input_dim)."""
        return self.hebbian.weight

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, input_dim) → (B, T, output_dim); in training mode, one Hebbian step first."""
        if x.dim() != 3 or x.shape[2] != self.input_dim:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, seq, {self.input_dim}), "
                             f"got {tuple(x.shape)}")
        batch, steps, _ = x.shape
        rows = x.reshape(batch * steps, self.input_dim)
        if self.training and self.lr:
            self.hebbian.hebbian_step(rows.detach(), self.lr)  # no_grad inside
        projected = self.hebbian(rows).view(batch, steps, self.hidden_dim)
        out, _ = self.gru(projected)
        return self.fc(torch.relu(out))

    def extra_repr(self) -> str:
        return f"lr={self.lr}"
