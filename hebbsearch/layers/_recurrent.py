"""HebbianRNN: an Elman recurrent layer whose input and recurrent weights learn with a local rule."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hebbsearch.layers._base import HebbianLayer
from hebbsearch.rules import Rule


class HebbianRNN(HebbianLayer):
    """A recurrent layer ``h_t = act(W x_t + U h_{t−1} [+ b])`` trained by any registered local rule.

    Elman, J. L. (1990), "Finding structure in time", Cognitive Science 14(2), for the recurrence;
    the weights learn from local statistics only (no backpropagation through time). The layer keeps
    one weight matrix ``weight = [W | U | b]`` of shape (H, F + H [+ 1]); ``weight_ih`` (W, (H, F)),
    ``weight_hh`` (U, (H, H)) and ``bias_ih`` (b, (H,)) are views of it. For a sequence x_1..x_T the
    presynaptic row of step t and its currents are::

        p_t = [x_t, h_{t−1}, 1]                   (the 1 only with bias=True; h_0 = h0 or 0)
        u_t = p_t · transform([W | U | b])ᵀ       = T(W) x_t + T(U) h_{t−1} + T(b)
        h_t = act(u_t)                            (the postsynaptic response)

    where T is the rule's synaptic transform (identity for all rules but Krotov's sign(w)|w|^(p−1)),
    exactly as :class:`~hebbsearch.layers.HebbianLinear` computes ``x · T(W)ᵀ``.

    ``hebbian_step(x, lr)`` runs the sequence under ``torch.no_grad`` with the current weights, then
    takes one rule step on all B·T pairs (p_t, u_t) at once::

        [W | U | b] += lr · rule.update([W | U | b], P, currents=C)     P (B·T, F+H[+1]), C (B·T, H)

    This is the rule's contract exactly: the currents the rule is handed are ``P · T(weight)ᵀ`` for
    the weight it updates, because the weights do not change during the sequence. Every rule thereby
    sees the same kind of batch as in a linear layer, B·T rows instead of B: rules that average over
    the batch (Oja, Hebb, Sanger, SoftHebb, covariance, BCM, WTA) average over the pairs, so ``lr`` does
    not depend on the sequence length; Krotov's rule ranks the units for each pair and normalises dW by
    its largest entry; BCM's threshold (buffer ``rule_theta``) slides once per step; rules with a
    constraint (Hebb, covariance) project the whole row [W | U | b]. As in every layer the rule sees
    the currents u_t; the activation shapes h_t, which feeds the next step and the next layer (with
    ``activation=None``, h_t = u_t). The bias is a column of the weight on a constant input 1, so the
    rule learns it too.

    ``forward(x)`` is pure inference. Input (B, T, F), output (B, T, H), batch first; outputs of one
    HebbianRNN feed the next. Like ``nn.RNN(batch_first=True)`` the output is a (B, T, H) view of
    time-major storage; ``.contiguous()`` it if needed. Gradients flow to ``x`` and ``h0`` (never to
    the weights, which have ``requires_grad=False``), so a backprop-trained module below still learns.

    Args:
        input_size: F, features per time step.
        hidden_size: H, number of units.
        rule: a rule object, a rule class or a registered name.
        rule_params: hyperparameters when ``rule`` is a name or class.
        activation: ``"tanh"`` (default, as ``nn.RNN``), ``None``/``"identity"``, any name of
            :func:`~hebbsearch.layers.get_activation` or a module applied to (B, H) per step.
        activation_params: e.g. ``{"power": 2}`` for ``"relu_power"``.
        bias: learn a bias b (a column of the weight on a constant input 1).
        input_norm: normalisation of x_t only (not of h_{t−1}): ``None``, ``"batch"`` (over the B·T rows,
            no affine parameters) or ``"unit"`` (each x_t to unit L2 norm).
        init: ``"unit"`` (default: rows of [W | U | b] of unit L2 norm, so a step's current is bounded
            by ‖p_t‖) or ``"normal"`` (N(0, 1), which saturates tanh for large H).
        seed: seed of the weight initialisation.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rule: str | Rule | type[Rule] = "oja",
        *,
        rule_params: dict[str, Any] | None = None,
        activation: str | nn.Module | None = "tanh",
        activation_params: dict[str, Any] | None = None,
        bias: bool = False,
        input_norm: str | None = None,
        init: str = "unit",
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size} and {hidden_size}")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be true or false, got {bias!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(hidden_size, input_size + hidden_size + int(bias), **factory),
                                   requires_grad=False)
        self._setup(
            rule, rule_params, hidden_size, input_norm,
            nn.BatchNorm1d(input_size, affine=False, **factory),
            activation, activation_params, init, seed,
        )

    # -- views of the weight -------------------------------------------------------------------------

    @property
    def weight_ih(self) -> Tensor:
        """W, the input weights: a (H, F) view of :attr:`weight`."""
        return self.weight[:, : self.input_size]

    @property
    def weight_hh(self) -> Tensor:
        """U, the recurrent weights: a (H, H) view of :attr:`weight`."""
        return self.weight[:, self.input_size: self.input_size + self.hidden_size]

    @property
    def bias_ih(self) -> Tensor | None:
        """b, the bias: the last column of :attr:`weight` with ``bias=True``, else None."""
        return self.weight[:, -1] if self.bias else None

    # -- inference -----------------------------------------------------------------------------------

    def forward(self, x: Tensor, h0: Tensor | None = None, return_state: bool = False
                ) -> Tensor | tuple[Tensor, Tensor]:
        """Run the sequence; never learns.

        Args:
            x: (B, T, F) inputs.
            h0: (B, H) initial hidden state; zeros when None.
            return_state: also return the final hidden state h_T.

        Returns:
            The hidden states (B, T, H), or ``(hidden states, h_T (B, H))`` with ``return_state``.
        """
        x, h0 = self._check(x, h0)
        batch, steps, _ = x.shape
        xn = self._time_major(x, learning=False)  # (T·B, F)
        t_ih, t_hh, t_b = self._split(self.transformed_weight())
        if torch.is_grad_enabled() and (xn.requires_grad or (h0 is not None and h0.requires_grad)):
            return self._forward_autograd(xn.view(steps, batch, -1), h0, t_ih, t_hh, t_b, return_state)
        # time-major buffers: states[0] = h0, states[t + 1] = h_t; currents filled in place step by step
        currents = torch.mm(xn, t_ih.T)
        states = x.new_empty(steps + 1, batch, self.hidden_size)
        self._recur(currents.view(steps, batch, -1), states, h0, t_hh, t_b)
        out = states[1:].transpose(0, 1)
        return (out, states[-1]) if return_state else out

    def currents(self, x: Tensor, h0: Tensor | None = None) -> Tensor:
        """The currents u_t before the activation, shape (B, T, H) (with the activation's h_t fed back)."""
        x, h0 = self._check(x, h0)
        batch, steps, _ = x.shape
        with torch.no_grad():
            _, currents = self._run(x, h0, learning=False)
        return currents.view(steps, batch, -1).transpose(0, 1)

    # -- learning ------------------------------------------------------------------------------------

    @torch.no_grad()
    def hebbian_step(self, x: Tensor, lr: float, h0: Tensor | None = None) -> Tensor:
        """One local update from the sequence ``x`` (B, T, F): see the class docstring.

        Returns:
            h_T (B, H), the final hidden state (computed with the weights before the update), to
            carry into the next chunk of a long sequence.
        """
        x, h0 = self._check(x, h0)
        batch, steps, _ = x.shape
        pre, currents = self._run(x, h0, learning=True)
        h_last = pre[-1, :, self.input_size: self.input_size + self.hidden_size].clone()
        rows = pre[:steps].view(steps * batch, -1)  # (B·T, F + H [+ 1]): the pairs' presynaptic rows
        self._learn(self.weight, self.transformed_weight(), rows, currents, lr, slice(None))
        self._mark_transform_fresh()
        return h_last

    def _run(self, x: Tensor, h0: Tensor | None, learning: bool) -> tuple[Tensor, Tensor]:
        """``(pre, currents)``: pre (T + 1, B, F + H [+ 1]) holds p_t in pre[t] (and h_T in pre[T]);
        currents (T·B, H) time-major."""
        batch, steps, _ = x.shape
        f, h = self.input_size, self.hidden_size
        pre = x.new_empty(steps + 1, batch, self.weight.shape[1])
        pre[:steps, :, :f].copy_(self._time_major(x, learning=learning).view(steps, batch, f))
        pre[steps, :, :f].zero_()
        if self.bias:
            pre[..., -1].fill_(1.0)
        t_ih, t_hh, t_b = self._split(self.transformed_weight())
        currents = torch.mm(pre[:steps, :, :f].reshape(steps * batch, f), t_ih.T)
        self._recur(currents.view(steps, batch, h), pre[:, :, f: f + h], h0, t_hh, t_b)
        return pre, currents

    # -- helpers -------------------------------------------------------------------------------------

    def _time_major(self, x: Tensor, learning: bool) -> Tensor:
        """The normalised inputs as time-major rows (T·B, F): a view, no copy, when ``x`` is the
        output of another HebbianRNN (a batch-first view of time-major storage)."""
        rows = x.transpose(0, 1).reshape(x.shape[0] * x.shape[1], self.input_size)
        return self._normalise(rows, learning=learning)  # per row or over all rows: order is free

    def _split(self, transformed: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        f, h = self.input_size, self.hidden_size
        return transformed[:, :f], transformed[:, f: f + h], transformed[:, -1] if self.bias else None

    def _recur(self, currents: Tensor, states: Tensor, h0: Tensor | None, t_hh: Tensor,
               t_b: Tensor | None) -> None:
        """The recurrence in place: currents (T, B, H) get U h_{t−1} (+ b) added; states (T + 1, B, H)
        receive h0 in states[0] and h_t = act(u_t) in states[t + 1]."""
        if t_b is not None:
            currents.add_(t_b)
        if h0 is None:
            states[0].zero_()
        else:
            states[0].copy_(h0)
        for t in range(currents.shape[0]):
            u = currents[t]
            if t or h0 is not None:  # h_0 = 0 adds nothing
                u.addmm_(states[t], t_hh.T)
            self._activate_into(u, states[t + 1])

    def _activate_into(self, u: Tensor, out: Tensor) -> None:
        act = self.activation
        if isinstance(act, nn.Tanh):
            torch.tanh(u, out=out)
        elif isinstance(act, nn.Identity):
            out.copy_(u)
        elif isinstance(act, nn.ReLU):
            torch.clamp_min(u, 0, out=out)
        else:
            out.copy_(act(u))

    def _forward_autograd(self, x: Tensor, h0: Tensor | None, t_ih: Tensor, t_hh: Tensor,
                          t_b: Tensor | None, return_state: bool) -> Tensor | tuple[Tensor, Tensor]:
        """Out of place, so gradients reach ``x`` (time-major (T, B, F)) and ``h0``."""
        currents = F.linear(x, t_ih, t_b)
        h = h0
        outs = []
        for t in range(x.shape[0]):
            u = currents[t] if h is None else torch.addmm(currents[t], h, t_hh.T)
            h = self.activation(u)
            outs.append(h)
        out = torch.stack(outs, dim=1)
        return (out, h) if return_state else out

    def _check(self, x: Tensor, h0: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if x.dim() != 3 or x.shape[2] != self.input_size or x.shape[1] < 1:
            raise ValueError(f"{type(self).__name__} expects input of shape (batch, seq, {self.input_size}) "
                             f"with seq >= 1, got {tuple(x.shape)}")
        if h0 is not None and tuple(h0.shape) != (x.shape[0], self.hidden_size):
            raise ValueError(f"h0 must have shape ({x.shape[0]}, {self.hidden_size}), got {tuple(h0.shape)}")
        return x, h0

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, bias={self.bias}, "
                f"rule={self.rule!r}, input_norm={self.input_norm!r}")
