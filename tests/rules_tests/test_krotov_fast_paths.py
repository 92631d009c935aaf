"""Krotov's CPU fast paths against the plain torch reference, with their thresholds lowered so that
small inputs take them: the sorted-key ranking (vs topk), the sparse-matrix gᵀx (vs a dense gᵀ @ x)
and the row-sparse update (vs the dense formula), in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsearch.rules import Krotov
from hebbsearch.rules import _krotov

from tests.rules_tests._helpers import krotov_reference

DTYPES = [torch.float32, torch.float64]
INF, NAN = float("inf"), float("nan")


@pytest.fixture
def fast_paths(monkeypatch):
    """Every batch of >= 4 rows takes the fast paths, in blocks of 16 rows over up to 3 threads."""
    monkeypatch.setattr(_krotov, "SORT_MIN_ROWS", 4)
    monkeypatch.setattr(_krotov, "COO_MIN_ROWS", 4)
    monkeypatch.setattr(_krotov, "_BLOCK_ROWS", 16)
    monkeypatch.setattr(_krotov, "_ROWS_PER_THREAD", 16)
    monkeypatch.setattr(_krotov, "_THREADS", 3)


def _hard_currents(units: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random rows, then rows with ties, ±inf, NaN of either sign, zeros, all-negative values."""
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(120, units, generator=g, dtype=dtype)
    c[0, 3] = INF
    c[1, 5] = -INF
    c[2, 1] = NAN
    c[3, 2] = -NAN  # sign bit set: topk still ranks it first
    c[4] = -INF
    c[5] = 0.0
    c[6, :7] = c[6, 10]  # a tie at the top
    c[7] = c[7].round()  # many ties
    c[8] = -c[8].abs() - 1  # all negative
    c[9, ::2] = INF
    c[10] = NAN
    c[11, 0], c[11, 1] = 1.0, np.nextafter(1.0, 2.0)  # nearly equal: same key but for the column
    c[12] = c[12] * 1e-30  # subnormal-ish magnitudes (float32: subnormal)
    return c


def _values(c: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return c.gather(1, idx.unsqueeze(1)).squeeze(1)


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(((a == b) | (a.isnan() & b.isnan())).all())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [24, 96, 100, 256])
def test_sorted_ranking_equals_topk(fast_paths, dtype, units):
    c = _hard_currents(units, dtype, seed=units)
    for k in (2, 9, units - 1):
        winner, kth = _krotov.winner_and_kth(c, k)
        ranked = c.topk(k, dim=1)
        # the same ranks, ties included (a tie may name another of the tied columns)
        assert _same_values(_values(c, winner), ranked.values[:, 0])
        assert _same_values(_values(c, kth), ranked.values[:, -1])
        # and the same columns on the rows without ties
        plain = slice(20, None)
        assert torch.equal(winner[plain], ranked.indices[plain, 0])
        assert torch.equal(kth[plain], ranked.indices[plain, -1])
        assert winner.dtype == kth.dtype == torch.int64


def test_sorted_ranking_is_used_only_where_it_applies(fast_paths, monkeypatch):
    calls = []
    real = _krotov._winner_and_kth_sorted
    monkeypatch.setattr(_krotov, "_winner_and_kth_sorted", lambda c, k: calls.append(c.shape) or real(c, k))
    for shape in [(40, 24), (40, 256), (40, 23), (40, 257), (3, 96)]:
        _krotov.winner_and_kth(torch.randn(shape), 3)
    _krotov.winner_and_kth(torch.randn(96, 40).T, 3)  # columns not contiguous
    _krotov.winner_and_kth(torch.randn(40, 96, dtype=torch.bfloat16), 3)
    assert calls == [(40, 24), (40, 256)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_rows,delta", [(5, 0.4), (30, 0.0), (64, 1.5)])
def test_sparse_matrix_signed_row_sums_equal_dense(fast_paths, dtype, n_rows, delta):
    g = torch.Generator().manual_seed(n_rows)
    m = 50
    x = torch.randn(m, 7, generator=g, dtype=dtype)
    win = torch.randint(0, n_rows, (m,), generator=g)
    kth = torch.randint(0, n_rows, (m,), generator=g)
    kth[:5] = win[:5]  # a row both won and came k-th: both terms land on it
    dense_g = torch.zeros(n_rows, m, dtype=dtype)
    dense_g[win, torch.arange(m)] += 1.0
    dense_g[kth, torch.arange(m)] -= delta
    expected = dense_g @ x
    out = _krotov._signed_row_sums(x, win, kth, n_rows, delta)
    assert out.shape == (n_rows, 7) and out.dtype == dtype and out.layout == torch.strided
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out, expected, rtol=tol, atol=tol)
    # and the index_add_ path gives the same
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_krotov, "COO_MIN_ROWS", 1 << 40)
        torch.testing.assert_close(_krotov._signed_row_sums(x, win, kth, n_rows, delta), expected,
                                   rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units,m", [(64, 20), (256, 40), (40, 60)])  # row-sparse (K > 2M) and dense
@pytest.mark.parametrize("scope", ["matrix", "unit"])
@pytest.mark.parametrize("fast", [True, False])
def test_update_on_fast_paths_equals_dense_formula(request, dtype, units, m, scope, fast):
    if fast:
        request.getfixturevalue("fast_paths")
    g = torch.Generator().manual_seed(units + m)
    w = torch.randn(units, 11, generator=g, dtype=dtype)
    x = torch.randn(m, 11, generator=g, dtype=dtype)
    rule = Krotov(p=3, k=4, delta=0.3, norm_scope=scope)
    expected = krotov_reference(w.double().numpy(), x.double().numpy(), 3, 4, 0.3, scope)
    rows, d = rule.sparse_update(w, x)
    assert (rows is not None) == (units > 2 * m)
    if rows is not None:
        assert rows.numel() == len(set(rows.tolist())) <= 2 * m
        assert not expected[np.setdiff1d(np.arange(units), rows.numpy())].any()  # untouched rows: 0
    dense = rule.update(w, x)
    assert dense.dtype == dtype
    tol = 2e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(dense.double().numpy(), expected, rtol=0, atol=tol)
