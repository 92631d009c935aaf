"""An architecture written out layer by layer (a study file's ``[[model.layers]]``) as a :class:`Preset`.

Each layer is a mapping::

    {"type": "conv", "units": 96, "kernel": 5, "stride": 1, "padding": 2,
     "activation": "triangle", "power": 0.7, "input_norm": "batch",
     "pool": "max", "pool_size": 4, "pool_stride": 2, "pool_padding": 1}

``type`` is ``"conv"`` or ``"linear"``; a linear layer takes no kernel, stride, padding or pool keys.
Errors are :class:`LayerSpecError` naming the field as ``layers[i].key`` so a study file can point at
the exact line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from torch import nn

from hebbsearch.layers._activations import list_activations
from hebbsearch.models._presets import LayerSpec, Preset

_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
_INPUT_NORMS = ("none", "batch", "unit")  # build_stack reads "none" as no normalisation
_CONV_KEYS = ("kernel", "stride", "padding", "pool", "pool_size", "pool_stride", "pool_padding")
_KEYS = ("type", "units", "activation", "power", "input_norm", *_CONV_KEYS)


class LayerSpecError(ValueError):
    """A layer of an explicit architecture is invalid; ``field`` is ``layers[i].key``."""

    def __init__(self, field: str, expected: str) -> None:
        self.field, self.expected = field, expected
        super().__init__(f"{field}: {expected}")


def _int(where: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LayerSpecError(where, f"expected an integer >= {low}, got {value!r}")
    return value


def _choice(where: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise LayerSpecError(where, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _layer(i: int, raw: Any) -> tuple[LayerSpec, str, float | None, str]:
    at = f"layers[{i}]"
    if not isinstance(raw, Mapping):
        raise LayerSpecError(at, f"expected a table of layer settings, got {raw!r}")
    for key in raw:
        if key not in _KEYS:
            raise LayerSpecError(f"{at}.{key}", f"unknown key; expected one of: {', '.join(_KEYS)}")
    if "type" not in raw:
        raise LayerSpecError(f"{at}.type", "missing; expected 'conv' or 'linear'")
    kind = _choice(f"{at}.type", raw["type"], ("conv", "linear"))
    if "units" not in raw:
        raise LayerSpecError(f"{at}.units", "missing; expected the number of units (channels)")
    units = _int(f"{at}.units", raw["units"], 1)
    activation = _choice(f"{at}.activation", raw.get("activation", "relu"), list_activations())
    power = raw.get("power")
    if power is not None:
        if activation not in ("relu_power", "triangle"):
            raise LayerSpecError(f"{at}.power",
                                 f"needs activation 'relu_power' or 'triangle', got {activation!r}")
        if isinstance(power, bool) or not isinstance(power, int | float) or power <= 0:
            raise LayerSpecError(f"{at}.power", f"expected a number > 0, got {power!r}")
        power = float(power)
    input_norm = _choice(f"{at}.input_norm", raw.get("input_norm", "batch"), _INPUT_NORMS)
    if kind == "linear":
        for key in _CONV_KEYS:
            if key in raw:
                raise LayerSpecError(f"{at}.{key}", "only for type 'conv'")
        return LayerSpec(units, type="linear"), activation, power, input_norm
    if "kernel" not in raw:
        raise LayerSpecError(f"{at}.kernel", "missing; expected the kernel size of the conv layer")
    kernel = _int(f"{at}.kernel", raw["kernel"], 1)
    stride = _int(f"{at}.stride", raw.get("stride", 1), 1)
    padding = _int(f"{at}.padding", raw.get("padding", 0), 0)
    post: Any = nn.Identity
    pool = raw.get("pool", "none")
    if pool == "none":
        for key in ("pool_size", "pool_stride", "pool_padding"):
            if key in raw:
                raise LayerSpecError(f"{at}.{key}", "needs pool = 'max' or 'avg'")
    else:
        pool = _choice(f"{at}.pool", pool, ("none", *_POOLS))
        if "pool_size" not in raw:
            raise LayerSpecError(f"{at}.pool_size", f"missing; pool {pool!r} needs its window size")
        size = _int(f"{at}.pool_size", raw["pool_size"], 1)
        pool_stride = _int(f"{at}.pool_stride", raw.get("pool_stride", size), 1)
        pool_padding = _int(f"{at}.pool_padding", raw.get("pool_padding", 0), 0)
        if 2 * pool_padding > size:
            raise LayerSpecError(f"{at}.pool_padding", f"expected at most half of pool_size ({size}), "
                                                       f"got {pool_padding}")
        post = partial(_POOLS[pool], size, stride=pool_stride, padding=pool_padding)
    spec = LayerSpec(units, kernel=kernel, stride=stride, padding=padding, post=post, type="conv")
    return spec, activation, power, input_norm


def preset_from_layers(layers: Sequence[Mapping[str, Any]], name: str = "layers") -> Preset:
    """A :class:`Preset` for an explicit list of layers; pass it to :func:`build_stack` as ``preset``.

    Raises:
        LayerSpecError: a layer has an unknown key, a missing or invalid value (named as ``layers[i].key``).
    """
    if isinstance(layers, str | bytes) or not isinstance(layers, Sequence) or not layers:
        raise LayerSpecError("layers", "expected a non-empty list of layer tables")
    parsed = [_layer(i, raw) for i, raw in enumerate(layers)]
    for i, (spec, *_rest) in enumerate(parsed[:-1]):
        if spec.type == "linear" and parsed[i + 1][0].type == "conv":
            raise LayerSpecError(f"layers[{i + 1}].type", "a conv layer cannot follow a linear layer")
    specs, activations, powers, norms = zip(*parsed)
    defaults = {"activation": activations, "power": powers, "input_norm": norms}
    return Preset(name, tuple(specs), defaults, "explicit list of layers")
