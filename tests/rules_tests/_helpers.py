"""Shared data for the rule tests: seeded float64 samples."""

from __future__ import annotations

import numpy as np
import torch

F64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gaussian(cov: torch.Tensor, m: int, g: torch.Generator, mean: torch.Tensor | None = None) -> torch.Tensor:
    """m samples of N(mean, cov)."""
    x = torch.randn(m, cov.shape[0], generator=g, dtype=F64) @ torch.linalg.cholesky(cov).T
    return x if mean is None else x + mean


def random_covariance(n: int, g: torch.Generator) -> torch.Tensor:
    """A well-conditioned covariance with distinct leading eigenvalues."""
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    eigenvalues = torch.tensor([6.0, 3.5, 2.0] + [0.5] * (n - 3), dtype=F64)[:n]
    return q @ torch.diag(eigenvalues) @ q.T


def top_components(cov: torch.Tensor, n: int) -> torch.Tensor:
    """The n leading eigenvectors as rows, by decreasing eigenvalue (numpy-style eigh)."""
    _, vectors = torch.linalg.eigh(cov)
    return vectors.flip(1)[:, :n].T


def abs_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1).abs() / (a.norm(dim=-1) * b.norm(dim=-1))


def krotov_reference(w: np.ndarray, x: np.ndarray, p: int, k: int, delta: float,
                     scope: str = "matrix") -> np.ndarray:
    """Krotov & Hopfield (2019), "fast implementation", written densely in numpy (float64)."""
    sig = np.sign(w) * np.abs(w) ** (p - 1)                 # synaptic transform
    currents = x @ sig.T                                    # (M, K)
    order = np.argsort(-currents, axis=1, kind="stable")    # units by decreasing current
    g = np.zeros_like(currents)
    rows = np.arange(x.shape[0])
    g[rows, order[:, 0]] = 1.0
    g[rows, order[:, k - 1]] = -delta
    dw = g.T @ x - (g * currents).sum(axis=0)[:, None] * w
    if scope == "matrix":
        nc = np.abs(dw).max()
    else:
        nc = np.abs(dw).max(axis=1, keepdims=True)
    return dw / np.maximum(nc, 1e-30)
