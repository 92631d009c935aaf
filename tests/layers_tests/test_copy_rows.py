"""copy_rows_ (the transform cache's row copy) equals index_copy_, on the wide-element path and off it."""

from __future__ import annotations

import pytest
import torch

from hebbsearch.layers._base import copy_rows_


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cols", [8, 12, 7, 1])  # 16-byte rows or not
@pytest.mark.parametrize("offset", [0, 1])  # a view that starts mid-storage
def test_copy_rows_equals_index_copy(dtype, cols, offset):
    g = torch.Generator().manual_seed(cols)
    dst = torch.randn(10 * cols + offset, generator=g, dtype=dtype)[offset:].view(10, cols)
    src = torch.randn(4, cols, generator=g, dtype=dtype)
    src[0, 0] = float("nan")
    rows = torch.tensor([7, 0, 3, 9])
    expected = dst.clone().index_copy_(0, rows, src)
    copy_rows_(dst, rows, src)
    assert torch.equal(dst.isnan(), expected.isnan())
    assert torch.equal(dst.nan_to_num(), expected.nan_to_num())


def test_copy_rows_into_a_column_slice():
    dst = torch.zeros(6, 16)
    src = torch.arange(24.0).view(3, 8)
    copy_rows_(dst[:, 8:], torch.tensor([1, 4, 5]), src)  # rows with stride 16, not contiguous
    assert torch.equal(dst[[1, 4, 5], 8:], src) and not dst[:, :8].any()
    assert not dst[[0, 2, 3], 8:].any()
