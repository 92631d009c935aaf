"""Published Hebbian architectures as presets (timm style: data tables + one private builder).

- ``amato5``: Amato et al. 2019 ("Hebbian learning meets deep convolutional neural networks"), as in
  biopytorch's CIFAR-10 benchmark: conv 96 5×5 → ReLU → max-pool 2; conv 128 3×3 → ReLU;
  conv 192 3×3 → ReLU → max-pool 2; conv 256 3×3 → ReLU; fc 300 → ReLU. No padding. Every Hebbian
  layer batch-normalises its own input (BatchNorm, affine=False, as biopytorch's BioConv2d/BioLinear),
  which is the BN between blocks of the paper.
- ``krotov_fc``: Krotov & Hopfield 2019: one fully connected layer (2000 units) on raw inputs
  (no input norm), features ReLU(currents)^4.5.
- ``softhebb3``: Journé et al. 2023 (SoftHebb) CIFAR-10: BN → conv 96 5×5 (pad 2) → triangle(0.7) →
  max-pool 4/2/1; BN → conv 384 3×3 (pad 1) → triangle(1.4) → max-pool 4/2/1; BN → conv 1536 3×3
  (pad 1) → triangle(1.0) → avg-pool 2/2. Reflect padding as in their code.
- ``softhebb5``: ``softhebb3``, then two more blocks BN → conv 1536 1×1 → triangle(1.0) at 4×4 (designed
  here for the per-depth table, not published): the 1×1 kernels keep layers 4 and 5 at a tenth of layer
  3's cost and the probe's input at 24,576 features after every layer from 3 on.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from hebbsearch.layers import HebbianConv2d, HebbianLinear
from hebbsearch.models._stack import HebbianBlock, HebbianStack
from hebbsearch.rules import Rule, get_rule

_POWER_ACTIVATIONS = ("relu_power", "triangle")


LAYER_TYPES = ("conv", "linear")


@dataclass(frozen=True)
class LayerSpec:
    """One block of a preset: a ``"conv"`` layer (``kernel`` required) or a ``"linear"`` one (no kernel,
    stride or padding), then ``post``. ``type`` defaults to what ``kernel`` implies."""

    units: int
    kernel: int | None = None
    stride: int = 1
    padding: int = 0
    post: Callable[[], nn.Module] = nn.Identity
    type: str = ""

    def __post_init__(self) -> None:
        kind = self.type or ("linear" if self.kernel is None else "conv")
        if kind not in LAYER_TYPES:
            raise ValueError(f"layer type must be one of {LAYER_TYPES}, got {self.type!r}")
        if kind == "conv" and self.kernel is None:
            raise ValueError("a conv layer needs a kernel size")
        if kind == "linear" and (self.kernel is not None or self.stride != 1 or self.padding != 0):
            raise ValueError("a linear layer takes no kernel, stride or padding")
        object.__setattr__(self, "type", kind)


@dataclass(frozen=True)
class Preset:
    name: str
    layers: tuple[LayerSpec, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    help: str = ""


_PRESETS: dict[str, Preset] = {}

# Options every preset accepts, with their defaults (a preset overrides them in ``defaults``).
_COMMON = {
    "units": None,        # units/channels per layer (sequence), default: the published ones
    "width": 1.0,         # multiplier of every layer's units
    "activation": "relu",  # name, module, or one per layer
    "power": None,        # power of relu_power/triangle: one number or one per layer
    "input_norm": "batch",  # None, "batch", "unit" (or one per layer)
    "init": "normal",     # "normal" or "unit"
    "padding_mode": "zeros",
}


def _register(preset: Preset) -> Preset:
    _PRESETS[preset.name] = preset
    return preset


_register(Preset(
    "amato5",
    (
        LayerSpec(96, kernel=5, post=lambda: nn.MaxPool2d(2)),
        LayerSpec(128, kernel=3),
        LayerSpec(192, kernel=3, post=lambda: nn.MaxPool2d(2)),
        LayerSpec(256, kernel=3),
        LayerSpec(300),
    ),
    {"hidden": None},
    "Amato et al. 2019 / biopytorch: 4 conv + 1 fc, BN-normalised inputs, ReLU",
))
_register(Preset(
    "krotov_fc",
    (LayerSpec(2000),),
    {"hidden": None, "activation": "relu_power", "power": 4.5, "input_norm": None},
    "Krotov & Hopfield 2019: one fc layer, raw inputs, ReLU^4.5 features",
))
_register(Preset(
    "softhebb3",
    (
        LayerSpec(96, kernel=5, padding=2, post=lambda: nn.MaxPool2d(4, stride=2, padding=1)),
        LayerSpec(384, kernel=3, padding=1, post=lambda: nn.MaxPool2d(4, stride=2, padding=1)),
        LayerSpec(1536, kernel=3, padding=1, post=lambda: nn.AvgPool2d(2, stride=2)),
    ),
    {"activation": "triangle", "power": (0.7, 1.4, 1.0), "padding_mode": "reflect"},
    "Journé et al. 2023 (SoftHebb): 3 conv, BN inputs, triangle activations",
))
_register(Preset(
    "softhebb5",
    (
        *_PRESETS["softhebb3"].layers,
        LayerSpec(1536, kernel=1),
        LayerSpec(1536, kernel=1),
    ),
    {"activation": "triangle", "power": (0.7, 1.4, 1.0, 1.0, 1.0), "padding_mode": "reflect"},
    "softhebb3 and two conv 1536 1x1 layers (triangle 1.0) at 4x4, for the per-depth table",
))


def list_presets() -> list[str]:
    """Names of the presets, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; unknown names fail with the list of known ones."""
    try:
        return _PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(list_presets())}") from None


def preset_options(name: str) -> list[str]:
    """The keyword options :func:`build_stack` accepts for preset ``name``, sorted."""
    return sorted({**_COMMON, **get_preset(name).defaults})


def _per_layer(value: Any, n: int, depth: int, option: str, preset: str) -> list[Any]:
    """One value per layer: a scalar is repeated; a sequence has one value per layer (``n``) or per built
    layer (``depth``)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) not in (n, depth):
            raise ValueError(f"preset {preset!r}: option {option!r} needs one value per layer "
                             f"({depth}{'' if depth == n else f' or {n}'}), got {len(value)}")
        return [*value, *[None] * (n - len(value))]
    return [value] * n


def _rules(rule: Any, depth: int, n_layers: int, preset: str) -> list[Rule]:
    if isinstance(rule, Sequence) and not isinstance(rule, str):
        if len(rule) not in (depth, n_layers):
            raise ValueError(f"preset {preset!r}: give one rule, or one per layer ({depth} for depth={depth}"
                             f"{'' if depth == n_layers else f' or {n_layers}'}), got {len(rule)}")
        return [get_rule(copy.deepcopy(r)) for r in rule[:depth]]
    return [get_rule(copy.deepcopy(rule)) for _ in range(depth)]


def build_stack(
    preset: str | Preset,
    in_shape: Sequence[int],
    rule: str | Rule | type[Rule] | Sequence[str | Rule | type[Rule]],
    *,
    depth: int,
    seed: int = 0,
    device: str | torch.device | None = None,
    **options: Any,
) -> HebbianStack:
    """Build the first ``depth`` blocks of a preset for images of shape ``in_shape`` (C, H, W).

    Args:
        preset: a name from :func:`list_presets`, or a :class:`Preset` such as
            :func:`~hebbsearch.models.preset_from_layers` makes from an explicit list of layers.
        in_shape: ``(C, H, W)`` of one image.
        rule: one rule (name, class or object; each layer gets its own copy) or one per layer.
        depth: number of blocks to build; the probe sits after block ``depth``.
        seed: weight initialisation seed (layer i uses a seed derived from it).
        device: where the weights live.
        **options: ``units`` (units/channels per layer), ``hidden`` (units of the fc layer: amato5,
            krotov_fc), ``width`` (multiplier of all units), ``activation`` (name or module, or one per
            layer), ``power`` (of relu_power/triangle, one or per layer), ``input_norm``, ``init``,
            ``padding_mode``.

    Raises:
        ValueError: unknown preset or option (named), bad depth, or an input too small for the preset.
    """
    spec = preset if isinstance(preset, Preset) else get_preset(preset)
    preset = spec.name
    n_layers = len(spec.layers)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= n_layers:
        raise ValueError(f"preset {preset!r}: depth must be an int in 1..{n_layers}, got {depth!r}")
    known = {**_COMMON, **spec.defaults}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"preset {preset!r} has no option {unknown[0]!r}; known: {', '.join(sorted(known))}")
    opts = {**known, **options}
    in_shape = tuple(int(d) for d in in_shape)
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (C, H, W), got {in_shape!r}")

    published = [layer.units for layer in spec.layers]
    units = _per_layer(opts["units"] or published, n_layers, depth, "units", preset)
    units = [u if u is not None else p for u, p in zip(units, published)]
    if opts.get("hidden") is not None:
        units[-1] = opts["hidden"]
    if any(isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in units):
        raise ValueError(f"preset {preset!r}: units must be ints >= 1, got {units}")
    width = opts["width"]
    if not isinstance(width, int | float) or isinstance(width, bool) or width <= 0:
        raise ValueError(f"preset {preset!r}: option 'width' must be a number > 0, got {width!r}")
    units = [max(1, round(u * width)) for u in units]
    activations = _per_layer(opts["activation"], n_layers, depth, "activation", preset)
    powers = _per_layer(opts["power"], n_layers, depth, "power", preset)
    norms = [None if norm == "none" else norm  # "none": a study file cannot write None
             for norm in _per_layer(opts["input_norm"], n_layers, depth, "input_norm", preset)]
    rules = _rules(rule, depth, n_layers, preset)
    device = torch.device(device) if device is not None else None

    blocks: list[HebbianBlock] = []
    shape = in_shape
    for i in range(depth):
        layer_spec, activation, power = spec.layers[i], activations[i], powers[i]
        activation_params = None
        if power is not None:
            if activation in _POWER_ACTIVATIONS:
                activation_params = {"power": power}
            elif "power" in options:  # a preset default that does not apply to the chosen activation
                raise ValueError(f"preset {preset!r}: option 'power' needs activation 'relu_power' or "
                                 f"'triangle', got {activation!r} for layer {i + 1}")
        if isinstance(activation, nn.Module):
            activation = copy.deepcopy(activation)
        common = {"input_norm": norms[i], "activation": activation, "activation_params": activation_params,
                  "init": opts["init"], "seed": (int(seed) * 1_000_003 + i) % 2**63, "device": device}
        try:
            if layer_spec.type == "linear":
                layer = HebbianLinear(math.prod(shape), units[i], rules[i], **common)
            else:
                assert layer_spec.kernel is not None  # (LayerSpec checks it)
                layer = HebbianConv2d(shape[0], units[i], layer_spec.kernel, stride=layer_spec.stride,
                                      padding=layer_spec.padding,
                                      padding_mode=opts["padding_mode"], rule=rules[i], **common)
        except ValueError as exc:
            raise ValueError(f"preset {preset!r}, layer {i + 1}: {exc}") from None
        block = HebbianBlock(layer, layer_spec.post())
        try:
            with torch.no_grad():
                shape = tuple(block(torch.zeros(1, *shape, device=device)).shape[1:])
        except RuntimeError as exc:
            raise ValueError(f"preset {preset!r}: input shape {in_shape} is too small for block {i + 1} "
                             f"(input {shape}): {str(exc).splitlines()[0]}") from None
        blocks.append(block)
    return HebbianStack(blocks, in_shape, preset=preset)
