"""Hard winner-take-all: the formula, cosine winners, the sparse form, and k-means-like centroids."""

from __future__ import annotations

import torch

from hebbsearch.layers import HebbianLinear
from hebbsearch.rules import get_rule

from ._helpers import F64, gen


def test_update_moves_each_cosine_winner_towards_its_inputs():
    g = gen(0)
    w, x = torch.randn(5, 4, generator=g, dtype=F64), torch.randn(11, 4, generator=g, dtype=F64)
    expected = torch.zeros_like(w)
    for xm in x:
        cos = [float(xm @ wk / (xm.norm() * wk.norm())) for wk in w]
        k = max(range(len(w)), key=cos.__getitem__)
        expected[k] += xm - w[k]
    torch.testing.assert_close(get_rule("wta").update(w, x), expected / len(x), rtol=1e-12, atol=1e-12)


def test_winner_is_by_cosine_not_by_dot_product():
    w = torch.tensor([[10.0, 10.0], [1.0, 0.0]], dtype=F64)  # unit 0 has the larger dot product
    x = torch.tensor([[1.0, 0.1]], dtype=F64)
    d = get_rule("wta").update(w, x)
    assert torch.equal(d[0], torch.zeros(2, dtype=F64))
    torch.testing.assert_close(d[1], x[0] - w[1])


def test_sparse_update_returns_only_winning_rows():
    g = gen(1)
    w, x = torch.randn(50, 6, generator=g, dtype=F64), torch.randn(4, 6, generator=g, dtype=F64)
    rule = get_rule("wta")
    rows, d = rule.sparse_update(w, x)
    assert rows is not None and 1 <= rows.numel() <= 4
    full = rule.update(w, x)
    torch.testing.assert_close(d, full[rows])
    others = torch.ones(50, dtype=torch.bool)
    others[rows] = False
    assert bool((full[others] == 0).all())


def test_units_converge_to_the_cluster_centroids():
    g = gen(2)
    centres = torch.tensor([[3.0, 0, 0, 1], [0, 3.0, 0, 1], [0, 0, 3.0, 1]], dtype=F64)

    def sample(m):
        return centres[torch.randint(0, 3, (m,), generator=g)] + 0.3 * torch.randn(m, 4, generator=g,
                                                                                   dtype=F64)

    # farthest-point (k-means++-like, label-free) initialisation from data, so that no unit is dead
    pool = sample(200)
    chosen = [pool[0]]
    for _ in range(2):
        chosen.append(pool[torch.cdist(pool, torch.stack(chosen)).min(dim=1).values.argmax()])
    layer = HebbianLinear(4, 3, "wta", dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(torch.stack(chosen))
    for step in range(300):
        layer.hebbian_step(sample(64), 0.1 if step < 200 else 0.02)
    distances = torch.cdist(centres, layer.weight).min(dim=1).values
    assert bool((distances < 0.1).all()), distances
