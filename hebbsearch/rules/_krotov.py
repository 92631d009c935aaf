"""Krotov & Hopfield (2019), "Unsupervised learning by competing hidden units", PNAS 116(16).

The "fast implementation" of their reference code, per batch of M rows x:

    I  = x · (sign(W)|W|^(p−1))ᵀ                           currents, (M, K)
    g  = +1 for each row's top-ranked unit, −Δ for its k-th ranked unit, 0 elsewhere
    dW = gᵀx − (Σ_rows g⊙I) ⊙ W
    dW ← dW / max|dW|                                      (whole matrix, or per unit)

g has two non-zero entries per row, so gᵀx is a scatter-add of input rows and only the units that
won or came k-th change: :meth:`Krotov.sparse_update` returns just those rows.

Speed (see benchmarks/): on CPU, ``topk`` costs ~5 ns per current (a NaN-aware ``nth_element`` per
row), several times the currents GEMM itself when there are many rows and few units (a conv layer:
one row per patch). :func:`winner_and_kth` then finds both ranks from one SIMD sort per row instead.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from hebbsearch.rules._base import HyperParameter, Rule, as_currents
from hebbsearch.rules._registry import register_rule

try:  # numpy's sort is SIMD (x86-simd-sort / highway) for small rows; torch's CPU sort is not
    import numpy as np
except ImportError:  # pragma: no cover - numpy comes with torchvision
    np = None

# Krotov's reference code guards the normalisation with prec = 1e-30.
_PREC = 1e-30

# Where the CPU fast paths take over (measured on a 2-core AVX-512 machine, see benchmarks/):
# the sorted-key ranking pays off for many rows of 24..256 units (a full sort of ≤ 256 values is a
# SIMD sorting network), ~2.5x over topk from 1024 rows on; topk stays for few rows or many units
# (the linear layers). The sparse-matrix gᵀx beats index_add_ from ~16k rows on.
SORT_MIN_ROWS = 1024
SORT_UNITS = (24, 256)
COO_MIN_ROWS = 16384
_ROWS_PER_THREAD = 4096
_BLOCK_ROWS = 2048
_THREADS = None  # None: torch.get_num_threads()


@register_rule
class Krotov(Rule):
    """Competing hidden units with anti-Hebbian push on the k-th ranked unit.

    Args:
        p: Lebesgue exponent of the synaptic metric; larger p gives sparser weights. Rows of W
            converge to unit p-norm.
        k: rank of the unit pushed away from each input (anti-Hebbian), 2 <= k < units.
        delta: strength Δ of that push, >= 0.
        norm_scope: ``"matrix"`` divides dW by its largest entry (Krotov's code, biopytorch's BioLinear);
            ``"unit"`` divides each row by its own largest entry (biopytorch's BioConv2d).
    """

    name = "krotov"
    hyperparameters = (
        HyperParameter("p", int, 3, low=2, high=8, valid_low=1, help="Lebesgue exponent"),
        HyperParameter("k", int, 7, low=2, high=10, valid_low=2, help="rank of the anti-Hebbian unit"),
        HyperParameter("delta", float, 0.4, low=0.0, high=0.4, valid_low=0.0, help="anti-Hebbian strength"),
    )
    options = ("norm_scope",)

    def __init__(self, *, norm_scope: str = "matrix", **params: Any) -> None:
        super().__init__(**params)
        if norm_scope not in ("matrix", "unit"):
            raise ValueError(f"rule 'krotov': norm_scope must be 'matrix' or 'unit', got {norm_scope!r}")
        self.norm_scope = norm_scope

    def check_units(self, units: int) -> None:
        if self.k >= units:
            raise ValueError(f"rule 'krotov': k must be < the number of units ({units}), got {self.k}")

    def transform(self, weight: Tensor) -> Tensor:
        if self.p == 2:
            return weight
        if self.p == 3:
            return weight.abs().mul_(weight)  # = weight * |weight|, one temporary
        return weight.sign() * weight.abs().pow(self.p - 1)

    def convergence(self, weight: Tensor) -> float:
        """max_k |Σ_i |W_ki|^p − 1|: rows converge to unit p-norm."""
        return float((weight.abs().pow(self.p).sum(dim=1) - 1).abs().max())

    def update(self, weight, x, *, currents=None, state=None):
        rows, d_rows = self.sparse_update(weight, x, currents=currents, state=state)
        if rows is None:
            return d_rows
        dw = torch.zeros_like(weight)
        dw[rows] = d_rows
        return dw

    def sparse_update(self, weight, x, *, currents=None, state=None):
        self.check_units(weight.shape[0])
        currents = as_currents(self, weight, x, currents)
        m, units = currents.shape
        winner, kth = winner_and_kth(currents, self.k)
        if units <= 2 * m:  # most units change anyway: dense rows are cheaper than unique()
            rows, win_slot, kth_slot, n_rows = None, winner, kth, units
        else:
            rows, slots = torch.unique(torch.cat([winner, kth]), return_inverse=True)
            win_slot, kth_slot, n_rows = slots[:m], slots[m:], rows.numel()
        dw = _signed_row_sums(x, win_slot, kth_slot, n_rows, self.delta)  # gᵀx
        w_rows = weight if rows is None else weight.index_select(0, rows)
        if n_rows * x.shape[1] < m:
            # Σ_rows g⊙I per unit equals (gᵀx)·T row by row, because I = x Tᵀ: a small (rows, N)
            # product instead of gathering 2·M currents (scattered reads, slow for a conv's patches).
            overlap = torch.linalg.vecdot(dw, self.transform(w_rows))
        else:
            ranked = currents.gather(1, torch.stack([winner, kth], dim=1)).to(x.dtype)
            overlap = x.new_zeros(n_rows).index_add_(0, win_slot, ranked[:, 0])
            overlap.index_add_(0, kth_slot, ranked[:, 1], alpha=-self.delta)
        dw.addcmul_(overlap.unsqueeze(1), w_rows, value=-1)
        if self.norm_scope == "matrix":
            return rows, dw.div_(dw.abs().amax().clamp_min_(_PREC))
        return rows, dw.div_(dw.abs().amax(dim=1, keepdim=True).clamp_min_(_PREC))


def _signed_row_sums(x: Tensor, win_slot: Tensor, kth_slot: Tensor, n_rows: int, delta: float) -> Tensor:
    """gᵀx: out[s] = Σ_{i: win_slot[i] = s} x[i] − Δ·Σ_{i: kth_slot[i] = s} x[i], shape (n_rows, N)."""
    m = x.shape[0]
    if x.device.type == "cpu" and m >= COO_MIN_ROWS:
        # Very many rows into few (a conv's patches): CPU index_add_ adds element by element and
        # slows down sharply once x outgrows the caches; gᵀ as a sparse (n_rows, M) matrix with two
        # entries per column adds whole rows with vector instructions, both terms in one pass.
        # (Not split over the thread pool: a torch op on another thread starts a second OpenMP
        # team, after which libgomp stops spin-waiting process-wide and every later small parallel
        # op pays for waking its threads: the linear step then ran ~1.6x slower.)
        units = torch.stack([win_slot, kth_slot], dim=1).view(-1)
        rows = torch.arange(2 * m, device=x.device).bitwise_right_shift_(1)  # 0 0 1 1 2 2 ...
        signs = x.new_tensor([1.0, -delta]).expand(m, 2).reshape(-1)  # (repeat* are ~10x slower)
        g_t = torch.sparse_coo_tensor(torch.stack([units, rows]), signs, (n_rows, m),
                                      check_invariants=False)
        return torch.sparse.mm(g_t, x)
    out = x.new_zeros(n_rows, x.shape[1]).index_add_(0, win_slot, x)
    if m <= n_rows:  # index_add_ with alpha != 1 first makes a scaled copy of x: cheap for few rows
        return out.index_add_(0, kth_slot, x, alpha=-delta)
    return out.sub_(x.new_zeros(n_rows, x.shape[1]).index_add_(0, kth_slot, x), alpha=delta)


# -- ranking ------------------------------------------------------------------------------------------


def winner_and_kth(currents: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per row of ``currents`` (M, K): the columns of its top-ranked and of its k-th ranked unit.

    Exactly ``topk(k).indices[:, 0]`` and ``[:, k - 1]`` (ties, which have measure zero, may be broken
    differently). Large CPU batches of few units go through :func:`_winner_and_kth_sorted`.
    """
    m, units = currents.shape
    if (np is not None and currents.device.type == "cpu" and m >= SORT_MIN_ROWS
            and SORT_UNITS[0] <= units <= SORT_UNITS[1] and currents.stride(1) == 1
            and currents.dtype in (torch.float32, torch.float64)):
        return _winner_and_kth_sorted(currents, k)
    ranked = currents.topk(k, dim=1).indices
    return ranked[:, 0], ranked[:, -1]


def _winner_and_kth_sorted(currents: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """:func:`winner_and_kth` by sorting, per row, integer keys that carry their column in their low bits.

    A float's bit pattern, read as a signed integer, orders as the float does once the magnitude bits of
    negative values are flipped (b ^ 0x7FF..F where b < 0). The key is that integer with its lowest
    b = ⌈log2 K⌉ bits replaced by the column: clearing low bits is monotone (non-decreasing), so keys
    whose cleared parts differ sort exactly as the currents do, and the column of the top and of the
    k-th key is read off their low bits. (Integers sort ~1.5x faster than floats in numpy's SIMD sort.)
    Only when a key's cleared part equals a neighbour's (currents within ~2^-(23-b) relative of each
    other, a few rows in 10⁴ in float32) or the row holds ±inf/NaN (keys beyond those of ±max finite)
    is the rank uncertain; those rows are redone with topk, so the result is topk's.
    """
    m, units = currents.shape
    values = currents.detach().numpy()
    int_type = np.int32 if values.dtype == np.float32 else np.int64
    info = np.finfo(values.dtype)
    sign_shift = int_type(8 * values.itemsize - 1)
    magnitude = int_type(np.iinfo(int_type).max)
    low = int_type((1 << max(1, (units - 1).bit_length())) - 1)
    high = ~low
    flip_bits = magnitude & high  # the flip, less the low bits that are cleared anyway
    rows_per_block = min(_BLOCK_ROWS, m)
    # the columns repeated per row: ORing a broadcast row is ~3x slower than a same-shape array
    columns = np.broadcast_to(np.arange(units, dtype=int_type), (rows_per_block, units)).copy()
    # the integers of +inf and of −inf (= ~ that of +inf): keys at or beyond them come from ±inf or NaN
    top_inf = np.array(info.max, dtype=values.dtype).reshape(1).view(int_type)[0] + int_type(1)
    bottom_inf = ~top_inf
    # per row, the sorted (ascending) keys of: the lowest, ranks 2, 1 (top), k + 1, k and k − 1
    positions = np.array([0, units - 2, units - 1, units - k - 1, units - k, units - k + 1])
    picked = np.empty((m, positions.size), dtype=int_type)

    # Blocks of rows that stay in L2 from key to result, handed out to this thread and the pool's
    # as they come free (a thread may be slowed by another's OpenMP threads still spin-waiting).
    blocks = iter(range(0, m, _BLOCK_ROWS))
    blocks_lock = threading.Lock()
    workers = max(1, min(_THREADS or torch.get_num_threads(), m // _ROWS_PER_THREAD))
    # one key buffer per thread, allocated here: worker threads' own large allocations come from
    # per-thread malloc arenas that hand pages back at once, costing page faults on every block
    buffers = np.empty((workers, 2, rows_per_block, units), dtype=int_type)

    def select(worker: int) -> None:  # numpy releases the GIL: the threads run in parallel
        while True:
            with blocks_lock:
                start = next(blocks, None)
            if start is None:
                return
            stop = min(m, start + _BLOCK_ROWS)
            bits = values[start:stop].view(int_type)
            keys, flip = buffers[worker, 0, : stop - start], buffers[worker, 1, : stop - start]
            # key = ((bits ^ flip) & high) | column, as (bits & high) ^ (flip & high) ^ column
            np.right_shift(bits, sign_shift, out=flip)  # −1 where negative, else 0
            flip &= flip_bits
            np.bitwise_and(bits, high, out=keys)
            keys ^= flip
            keys ^= columns[: stop - start]
            keys.sort(axis=1)
            np.take(keys, positions, axis=1, out=picked[start:stop])

    _on_threads(select, workers)
    lowest, second, top, after_kth, kth_key, before_kth = picked.T
    winner_t = torch.from_numpy((top & low).astype(np.int64))
    kth_t = torch.from_numpy((kth_key & low).astype(np.int64))
    unsure = (  # a neighbour's cleared part equal to the top's or the k-th's: rank not certain
        (((top ^ second) & high) == 0)
        | (((kth_key ^ after_kth) & high) == 0)
        | (((kth_key ^ before_kth) & high) == 0)
        | (top >= top_inf)  # +inf or NaN in the row
        | (lowest <= bottom_inf)  # −inf, or NaN with the sign bit set
    )
    redo = np.flatnonzero(unsure)
    if redo.size:
        redo_t = torch.from_numpy(redo)
        ranked = currents[redo_t].topk(k, dim=1).indices
        winner_t[redo_t], kth_t[redo_t] = ranked[:, 0], ranked[:, -1]
    return winner_t, kth_t


def _on_threads(fn, n: int) -> list:
    """[fn(0), ..., fn(n − 1)], fn(0) on this thread and the others on the pool. Only for numpy work,
    which releases the GIL in its kernels; torch ops there would start extra OpenMP teams (see
    :func:`_signed_row_sums`)."""
    futures = [_pool(n - 1).submit(fn, i) for i in range(1, n)]
    results = [fn(0)]
    return results + [future.result() for future in futures]


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool of at least ``workers`` threads, made anew in a forked child (whose copy of the
    parent's pool has no threads)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            _POOL = (os.getpid(), max(1, workers),
                     ThreadPoolExecutor(max(1, workers), thread_name_prefix="hebbsearch-krotov"))
        return _POOL[2]
