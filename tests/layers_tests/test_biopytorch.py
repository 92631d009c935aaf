"""hebbsearch.layers.BioLinear / BioConv2d are drop-in replacements for biopytorch's layers."""

from __future__ import annotations

import inspect

import pytest
import torch

from hebbsearch.layers import BioConv2d, BioLinear

biopytorch = pytest.importorskip("biopytorch")

CASES = {
    "linear": (BioLinear, biopytorch.BioLinear, dict(in_features=30, out_features=12, delta=0.3,
                                                     ranking_param=4, lebesgue_p=3), (16, 3, 10)),
    "conv": (BioConv2d, biopytorch.BioConv2d, dict(in_channels=3, out_channels=8, kernel_size=3, lebesgue_p=2,
                                                   ranking_param=3, delta=0.1, stride=2, padding=1,
                                                   padding_mode="reflect"), (4, 3, 9, 9)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_signature(case) -> None:
    ours, theirs, _, _ = CASES[case]
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
    for name, parameter in inspect.signature(theirs).parameters.items():
        assert inspect.signature(ours).parameters[name].default == parameter.default, name


@pytest.mark.parametrize("case", list(CASES))
def test_same_training_steps_outputs_and_convergence(case) -> None:
    """A script that swaps the import trains the same weights and sees the same outputs."""
    ours_cls, theirs_cls, kwargs, shape = CASES[case]
    torch.manual_seed(0)
    ours = ours_cls(**kwargs, dtype=torch.float64)
    theirs = theirs_cls(**kwargs, dtype=torch.float64)
    with torch.no_grad():
        ours.weight.copy_(theirs.weight)
    for step in range(4):
        x = torch.randn(*shape, dtype=torch.float64)
        conv_ours = ours.training_step(x, learning_rate=0.05)
        conv_theirs = theirs.training_step(x, learning_rate=0.05)
        assert conv_ours == pytest.approx(float(conv_theirs), rel=1e-6), step
    # biopytorch divides dW by max|dW| + 1e-5 (we follow Krotov's max|dW|): each step differs by at
    # most lr·1e-5 per entry, 2e-6 over these 4 steps
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=2e-6)
    x = torch.randn(*shape, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-7, atol=1e-7)


def test_bias_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="BioLinear: bias=True is not supported"):
        BioLinear(4, 3, bias=True)
    with pytest.raises(ValueError, match="BioConv2d: bias=True is not supported"):
        BioConv2d(3, 4, 3, bias=True)
