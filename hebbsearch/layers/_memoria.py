"""MemoriaLayer: the Memoria Hebbian memory (Park & Bak 2024) behind a recurrent layer."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from hebbsearch.errors import MissingExtraError

MEMORIA_HINT = "MemoriaLayer needs the optional extra: pip install 'hebbsearch[memoria]'"


class MemoriaLayer(nn.Module):
    """Long-term memory for a recurrent layer's hidden states, from the ``memoria-pytorch`` package.

    Park, S., Bak, J. (2024), "Memoria: Resolving Fateful Forgetting Problem through Human-Inspired
    Memory Architecture", ICML 2024 (github.com/cosmoquester/memoria). Memoria keeps engrams at three
    levels, working, short-term and long-term memory, linked by Hebbian "fire together, wire together"
    counts; engrams that are reminded gain lifespan, the others age and are forgotten. This layer only
    drives the package's :class:`memoria.Memoria` (it does not re-implement it). Each call is one chunk::

        memoria.add_working_memory(h)             h (B, T, H): T new working-memory engrams per sequence
        m, idx = memoria.remind()                 m (B, R, H): reminded short- and long-term engrams
        a_tr  = softmax_r(h_t · m_r / √H)         over the valid engrams (idx ≥ 0) of each sequence
        s_t   = Σ_r a_tr m_r                      the reminded summary (zeros when nothing is reminded)
        Δ_r   = R_valid · mean_t a_tr · scale     lifespan gained: an engram attended as much as the
        memoria.adjust_lifespan_and_memories(idx, Δ)                      average gains ``scale``
        return [h, s]                             (B, T, 2H), concatenated on the last dimension

    Δ follows the authors' experiments (the mean attention an engram received, times the number of
    reminded engrams, times ``memoria_lifespan_extend_scale``); there the attention is a learned
    cross-attention, here it is parameter-free scaled dot-product attention. The summary uses only
    earlier chunks (the first call returns zeros). The memory is state, not learned weights: it is
    written on every call, in training and eval mode alike, outside autograd (gradients flow through
    the ``h`` half of the output only), and it is not part of ``state_dict``. The batch size must stay
    the same between calls; :meth:`reset` empties the memory (call it between independent sequences).

    Args:
        hidden_size: H, the size of each hidden state.
        num_reminded_stm: short-term engrams reminded per call.
        stm_capacity: short-term engrams kept per sequence before the oldest move to long-term memory.
        ltm_search_depth: depth of the search through linked long-term engrams.
        initial_lifespan: lifespan of a new engram, in calls.
        num_final_ltms: long-term engrams reminded per call.
        lifespan_extend_scale: ``scale`` in Δ above.
        device: where Memoria keeps its engrams (None: the device of the first input).

    Raises:
        MissingExtraError: (an ImportError) when ``memoria-pytorch`` is not installed.
    """

    def __init__(
        self,
        hidden_size: int,
        num_reminded_stm: int = 4,
        stm_capacity: int = 16,
        ltm_search_depth: int = 5,
        initial_lifespan: int = 3,
        num_final_ltms: int = 4,
        lifespan_extend_scale: float = 1.0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        try:  # optional extra: imported here, not at the top, so the package works without it
            from memoria import Memoria
        except ImportError:
            raise MissingExtraError(MEMORIA_HINT) from None
        for name, value, low in [
            ("hidden_size", hidden_size, 1), ("num_reminded_stm", num_reminded_stm, 0),
            ("stm_capacity", stm_capacity, 0), ("ltm_search_depth", ltm_search_depth, 0),
            ("initial_lifespan", initial_lifespan, 1), ("num_final_ltms", num_final_ltms, 0),
        ]:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"MemoriaLayer: {name} must be an integer >= {low}, got {value!r}")
        if not math.isfinite(lifespan_extend_scale) or lifespan_extend_scale < 0:
            raise ValueError(f"MemoriaLayer: lifespan_extend_scale must be a finite number >= 0, "
                             f"got {lifespan_extend_scale!r}")
        self.hidden_size = hidden_size
        self.lifespan_extend_scale = float(lifespan_extend_scale)
        self.memoria = Memoria(
            num_reminded_stm=num_reminded_stm,
            stm_capacity=stm_capacity,
            ltm_search_depth=ltm_search_depth,
            initial_lifespan=initial_lifespan,
            num_final_ltms=num_final_ltms,
            device=device,
        )
        self._batch_size: int | None = None

    @property
    def num_engrams(self) -> int:
        """Engram slots held now over the whole batch (working, short- and long-term memory)."""
        return len(self.memoria.engrams)

    def reset(self) -> None:
        """Forget everything (a new batch of sequences may then have another batch size)."""
        self.memoria.reset_memory()
        self._batch_size = None

    def forward(self, hidden: Tensor) -> Tensor:
        """Store ``hidden`` (B, T, H) as working memory, remind, and return [hidden, summary] (B, T, 2H)."""
        if hidden.dim() != 3 or hidden.shape[2] != self.hidden_size or hidden.shape[1] < 1:
            raise ValueError(f"MemoriaLayer expects hidden states of shape (batch, seq, {self.hidden_size}) "
                             f"with seq >= 1, got {tuple(hidden.shape)}")
        if self._batch_size is not None and hidden.shape[0] != self._batch_size:
            raise ValueError(f"MemoriaLayer holds memories of {self._batch_size} sequences, got a batch of "
                             f"{hidden.shape[0]}; call reset() before a new batch of sequences")
        with torch.no_grad():
            states = hidden.detach()
            self.memoria.add_working_memory(states)
            self._batch_size = hidden.shape[0]
            memories, indices = self.memoria.remind()
            summary, lifespan_delta = self._read(states.float(), memories.to(states.device), indices)
            self.memoria.adjust_lifespan_and_memories(indices, lifespan_delta)
        return torch.cat([hidden, summary.to(hidden.dtype)], dim=-1)

    def _read(self, states: Tensor, memories: Tensor, indices: Tensor) -> tuple[Tensor, Tensor]:
        """(summary (B, T, H), lifespan delta (B, R)) from the reminded engrams; see the class formula."""
        valid = (indices >= 0).to(states.device)  # (B, R)
        if memories.shape[1] == 0:
            return torch.zeros_like(states), torch.zeros(indices.shape, device=indices.device)
        scores = states @ memories.transpose(1, 2) / math.sqrt(self.hidden_size)  # (B, T, R)
        scores = scores.masked_fill(~valid.unsqueeze(1), float("-inf"))
        attention = torch.softmax(scores, dim=2).nan_to_num_(0.0)  # no valid engram: all −inf → zeros
        summary = attention @ memories
        delta = attention.mean(dim=1) * valid.sum(dim=1, keepdim=True) * self.lifespan_extend_scale
        return summary, delta.to(indices.device)

    def extra_repr(self) -> str:
        m = self.memoria
        return (f"hidden_size={self.hidden_size}, num_reminded_stm={m.num_reminded_stm}, "
                f"stm_capacity={m.stm_capacity}, ltm_search_depth={m.ltm_search_depth}, "
                f"initial_lifespan={m.initial_lifespan}, num_final_ltms={m.num_final_ltms}, "
                f"lifespan_extend_scale={self.lifespan_extend_scale}")
