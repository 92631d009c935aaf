"""Recurrent Hebbian stacks on sequences ``(B, T, F)``: a study file's ``[[model.layers]]`` of type
``"rnn"`` (:class:`~hebbsearch.layers.HebbianRNN`), ``"lateral"`` (:class:`~hebbsearch.layers.HebbianLateral`)
and ``"memoria"`` (:class:`~hebbsearch.layers.MemoriaLayer`), and the ``hebbian_gru`` preset
(:class:`~hebbsearch.models.BasicHebbianGRUModel`).

Each layer is a mapping, checked by :func:`check_sequence_layers` (errors name ``layers[i].key``)::

    {"type": "rnn", "units": 256, "activation": "tanh", "bias": False, "input_norm": "none", "init": "unit"}
    {"type": "lateral", "units": 128, "activation": "relu", "lmbda": 1.0, "eta": 0.0005,
     "connectivity": "random", "connectivity_prob": 0.25}
    {"type": "memoria", "num_reminded_stm": 4, "stm_capacity": 16, "ltm_search_depth": 5,
     "initial_lifespan": 3, "num_final_ltms": 4, "lifespan_extend_scale": 1.0, "chunk": 16}

A :class:`RecurrentStack` applies its blocks in order; every block maps ``(B, T, F)`` to ``(B, T, F')``:
an RNN gives its hidden states, a lateral layer its activations at every step (its feed-forward kernel
stays a fixed random projection; only the lateral weights learn, Hebbian), a Memoria layer
``[h, reminded summary]`` (``F' = 2F``), reading the batch in chunks of ``chunk`` steps with an empty
memory for every batch of sequences (the summary of a chunk recalls the earlier chunks of the same
sequences). Integer inputs ``(B, T)`` are character ids, one-hot encoded to ``in_features``.
"""

from __future__ import annotations

import copy
import importlib.util
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hebbsearch.errors import DivergenceError
from hebbsearch.layers import HebbianLateral, HebbianLinear, HebbianRNN, MemoriaLayer, get_activation
from hebbsearch.layers._activations import list_activations
from hebbsearch.layers._lateral import CONNECTIVITIES
from hebbsearch.layers._memoria import MEMORIA_HINT
from hebbsearch.models._custom import LayerSpecError
from hebbsearch.models._gru import BasicHebbianGRUModel
from hebbsearch.models._stack import check_depth
from hebbsearch.rules import Rule, get_rule

SEQUENCE_LAYER_TYPES = ("rnn", "lateral", "memoria")

# every key of each layer type, with its default (None: required)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "rnn": {"units": None, "activation": "tanh", "power": None, "bias": False, "input_norm": "none",
            "init": "unit"},
    "lateral": {"units": None, "activation": "relu", "power": None, "lmbda": 1.0, "eta": 0.0005,
                "connectivity": "random", "connectivity_prob": 0.25},
    "memoria": {"num_reminded_stm": 4, "stm_capacity": 16, "ltm_search_depth": 5, "initial_lifespan": 3,
                "num_final_ltms": 4, "lifespan_extend_scale": 1.0, "chunk": 16},
}
_MEMORIA_INTS = {"num_reminded_stm": 0, "stm_capacity": 0, "ltm_search_depth": 0, "initial_lifespan": 1,
                 "num_final_ltms": 0, "chunk": 1}

#: sequence presets and their options with defaults
SEQUENCE_PRESETS: dict[str, dict[str, Any]] = {"hebbian_gru": {"hidden": 128}}


def memoria_available() -> bool:
    """Whether the optional extra ``memoria`` (``memoria-pytorch``) is installed."""
    return importlib.util.find_spec("memoria") is not None


def sequence_layer_keys(kind: str) -> tuple[str, ...]:
    """The keys a layer of type ``kind`` accepts (``type`` first)."""
    return ("type", *_DEFAULTS[kind])


def is_sequence_layers(layers: Any) -> bool:
    """True when some table of ``layers`` has a sequence layer type (``rnn``, ``lateral``, ``memoria``)."""
    return isinstance(layers, Sequence) and not isinstance(layers, str) and any(
        isinstance(layer, Mapping) and layer.get("type") in SEQUENCE_LAYER_TYPES for layer in layers)


def list_sequence_presets() -> list[str]:
    return sorted(SEQUENCE_PRESETS)


def _number(where: str, value: Any, *, low: float | None = None, high: float | None = None,
            low_exclusive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LayerSpecError(where, f"expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_exclusive else value < low):
        sign = ">" if low_exclusive else ">="
        raise LayerSpecError(where, f"expected a number {sign} {low:g}, got {value!r}")
    if high is not None and value > high:
        raise LayerSpecError(where, f"expected a number <= {high:g}, got {value!r}")
    return float(value)


def _int(where: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise LayerSpecError(where, f"expected an integer >= {low}, got {value!r}")
    return value


def _choice(where: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise LayerSpecError(where, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_sequence_layer(i: int, raw: Any) -> dict[str, Any]:
    """Layer ``i`` with every key filled in (its defaults).

    Raises:
        LayerSpecError: at ``layers[i].key``.
    """
    at = f"layers[{i}]"
    if not isinstance(raw, Mapping):
        raise LayerSpecError(at, f"expected a table of layer settings, got {raw!r}")
    if "type" not in raw:
        types = ", ".join(map(repr, SEQUENCE_LAYER_TYPES))
        raise LayerSpecError(f"{at}.type", f"missing; expected one of {types}")
    kind = _choice(f"{at}.type", raw["type"], SEQUENCE_LAYER_TYPES)
    known = sequence_layer_keys(kind)
    for key in raw:
        if key not in known:
            raise LayerSpecError(f"{at}.{key}", f"unknown key for type {kind!r}; expected one of: "
                                                f"{', '.join(known)}")
    if kind == "memoria" and not memoria_available():
        raise LayerSpecError(f"{at}.type", MEMORIA_HINT)
    spec = {"type": kind, **_DEFAULTS[kind], **{k: v for k, v in raw.items() if k != "type"}}
    if kind == "memoria":
        for key, low in _MEMORIA_INTS.items():
            _int(f"{at}.{key}", spec[key], low)
        _number(f"{at}.lifespan_extend_scale", spec["lifespan_extend_scale"], low=0)
        return spec
    if spec["units"] is None:
        raise LayerSpecError(f"{at}.units", "missing; expected the number of units")
    _int(f"{at}.units", spec["units"], 1)
    _choice(f"{at}.activation", spec["activation"], list_activations())
    if spec["power"] is not None:
        if spec["activation"] not in ("relu_power", "triangle"):
            raise LayerSpecError(f"{at}.power", f"needs activation 'relu_power' or 'triangle', "
                                                f"got {spec['activation']!r}")
        _number(f"{at}.power", spec["power"], low=0, low_exclusive=True)
    if kind == "rnn":
        if not isinstance(spec["bias"], bool):
            raise LayerSpecError(f"{at}.bias", f"expected true or false, got {spec['bias']!r}")
        _choice(f"{at}.input_norm", spec["input_norm"], ("none", "batch", "unit"))
        _choice(f"{at}.init", spec["init"], ("unit", "normal"))
    else:
        _number(f"{at}.lmbda", spec["lmbda"])
        _number(f"{at}.eta", spec["eta"], low=0)
        _choice(f"{at}.connectivity", spec["connectivity"], CONNECTIVITIES)
        _number(f"{at}.connectivity_prob", spec["connectivity_prob"], low=0, high=1)
    return spec


def check_sequence_layers(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every layer checked and completed with its defaults (see the module docstring).

    Raises:
        LayerSpecError: an unknown type or key, a missing or invalid value, or a Memoria layer without
            the ``memoria`` extra (named as ``layers[i].key``).
    """
    if isinstance(layers, str | bytes) or not isinstance(layers, Sequence) or not layers:
        raise LayerSpecError("layers", "expected a non-empty list of layer tables")
    return [check_sequence_layer(i, raw) for i, raw in enumerate(layers)]


def _apply_overrides(layers: Sequence[Mapping[str, Any]], overrides: Mapping[str, Any]) -> list[Any]:
    """``{"layers[1].stm_capacity": 12}`` (a searched layer value) → that layer's key set."""
    if not overrides:
        return list(layers) if isinstance(layers, Sequence) and not isinstance(layers, str) else layers
    layers = [dict(layer) for layer in layers]
    for name, value in overrides.items():
        head, _, key = name.partition(".")
        if not (head.startswith("layers[") and head.endswith("]") and key):
            raise ValueError(f"unknown option {name!r} of a recurrent stack; expected 'layers[i].key'")
        index = int(head[len("layers["):-1])
        if not 0 <= index < len(layers):
            raise ValueError(f"option {name!r}: there are {len(layers)} layers")
        layers[index][key] = value
    return layers


class RecurrentStack(nn.Module):
    """Recurrent blocks applied in order to sequences ``(B, T, in_features)``; the probe after block
    ``depth`` reads its output ``(B, T, F)`` (every step, or the last one).

    Only the Hebbian layers learn, through :meth:`hebbian_step`; ``forward`` is pure inference (a
    :class:`~hebbsearch.layers.MemoriaLayer` writes its memory, which :meth:`forward` empties first).

    Attributes:
        blocks: the layers (:class:`~hebbsearch.layers.HebbianRNN`,
            :class:`~hebbsearch.layers.HebbianLateral`, :class:`~hebbsearch.layers.MemoriaLayer`, or a
            :class:`~hebbsearch.layers.HebbianLinear` applied to every step).
        posts: the activation after each block (identity but for lateral layers).
        in_features: F of the input.
        out_features: F' of each block's output.
        chunks: steps per Memoria call for each block (None for the others).
    """

    def __init__(self, blocks: Sequence[nn.Module], in_features: int, *,
                 posts: Sequence[nn.Module] | None = None, chunks: Sequence[int | None] | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        if not blocks:
            raise ValueError("a RecurrentStack needs at least one block")
        self.blocks = nn.ModuleList(blocks)
        self.posts = nn.ModuleList(posts if posts is not None else [nn.Identity() for _ in blocks])
        self.chunks = list(chunks) if chunks is not None else [None] * len(blocks)
        self.in_features = int(in_features)
        self.name = name
        self.out_features = self._infer_features()
        self.eval()

    @torch.no_grad()
    def _infer_features(self) -> list[int]:
        features, out = self.in_features, []
        for block in self.blocks:
            if isinstance(block, HebbianRNN):
                features = block.hidden_size
            elif isinstance(block, HebbianLateral | HebbianLinear):
                features = block.out_features
            elif isinstance(block, MemoriaLayer):
                features = 2 * block.hidden_size
            else:
                raise TypeError(f"not a recurrent block: {type(block).__name__}")
            out.append(features)
        return out

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def _check_depth(self, depth: int | None) -> int:
        return check_depth(depth, self.depth, lowest=0)  # 0: the encoded input itself

    def encode(self, x: Tensor) -> Tensor:
        """Integer ids ``(B, T)`` → one-hot float ``(B, T, in_features)``; floats pass unchanged."""
        if x.is_floating_point():
            return x
        return F.one_hot(x, self.in_features).float()

    def block(self, i: int, x: Tensor) -> Tensor:
        """Block ``i`` (from 1) on its input ``(B, T, F)``."""
        layer, post = self.blocks[i - 1], self.posts[i - 1]
        if isinstance(layer, HebbianLinear):
            batch, steps, features = x.shape
            return post(layer(x.reshape(batch * steps, features)).view(batch, steps, -1))
        if isinstance(layer, MemoriaLayer):
            layer.reset()
            chunk = self.chunks[i - 1] or x.shape[1]
            out = torch.cat([layer(x[:, s:s + chunk]) for s in range(0, x.shape[1], chunk)], dim=1)
            layer.reset()
            return out
        return post(layer(x))

    def forward(self, x: Tensor, depth: int | None = None) -> Tensor:
        """Output ``(B, T, F)`` of block ``depth`` (0: the encoded input)."""
        x = self.encode(x)
        for i in range(1, self._check_depth(depth) + 1):
            x = self.block(i, x)
        return x

    def learns(self, i: int) -> bool:
        """Whether block ``i`` (from 1) has Hebbian weights to train."""
        layer = self.blocks[i - 1]
        return isinstance(layer, HebbianRNN | HebbianLinear) or (
            isinstance(layer, HebbianLateral) and layer.connectivity != "zero")

    @torch.no_grad()
    def hebbian_step(self, i: int, x: Tensor, lr: float, factor: float = 1.0) -> None:
        """One local step of block ``i`` on its input ``x`` ``(B, T, F)``.

        A Hebbian RNN or projection steps with its rule at rate ``lr``; a lateral layer takes one
        training-mode call (its outer-product rule) at rate ``eta · factor``, ``factor`` being the
        learning-rate schedule's value now (1 at the start); a Memoria layer has nothing to learn.
        """
        layer = self.blocks[i - 1]
        if isinstance(layer, HebbianRNN):
            layer.hebbian_step(x, lr)
        elif isinstance(layer, HebbianLinear):
            layer.hebbian_step(x.reshape(-1, x.shape[-1]), lr)
        elif isinstance(layer, HebbianLateral) and layer.connectivity != "zero":
            eta = layer.eta
            layer.eta = eta * factor
            try:
                layer.train()
                layer(x)
            finally:
                layer.eta = eta
                layer.eval()
            if not bool(torch.isfinite(layer.lateral).all()):
                raise DivergenceError(layer, "lateral outer-product rule")

    def convergence(self, i: int) -> float:
        """The rule's convergence figure of block ``i``; a lateral layer: max |L|; Memoria: 0."""
        layer = self.blocks[i - 1]
        if isinstance(layer, HebbianRNN | HebbianLinear):
            return float(layer.convergence())
        if isinstance(layer, HebbianLateral):
            return float(layer.lateral.abs().max()) if layer.lateral.numel() else 0.0
        return 0.0

    def hebbian_layers(self) -> list[nn.Module]:
        """The blocks with Hebbian weights, in order."""
        return [block for i, block in enumerate(self.blocks, 1) if self.learns(i)]

    def num_hebbian_params(self, depth: int | None = None) -> int:
        """Weights of blocks 1..depth that learn (RNN and projection weights, lateral kernels and L)."""
        total = 0
        for block in self.blocks[: self._check_depth(depth)]:
            if isinstance(block, HebbianRNN | HebbianLinear):
                total += block.weight.numel()
            elif isinstance(block, HebbianLateral):
                total += block.weight.numel() + int(block.mask.sum())
        return total

    def feature_dim(self, depth: int | None = None) -> int:
        depth = self._check_depth(depth)
        return self.out_features[depth - 1] if depth else self.in_features

    def extra_repr(self) -> str:
        return f"name={self.name!r}, in_features={self.in_features}, out_features={self.out_features}"


def _rules(rule: Any, count: int) -> list[Rule]:
    if isinstance(rule, Sequence) and not isinstance(rule, str):
        if len(rule) < count:
            raise ValueError(f"give one rule, or one per Hebbian RNN layer ({count}), got {len(rule)}")
        return [get_rule(copy.deepcopy(r)) for r in rule[:count]]
    return [get_rule(copy.deepcopy(rule)) for _ in range(count)]


def build_sequence_stack(
    layers: Sequence[Mapping[str, Any]],
    in_features: int,
    rule: str | Rule | type[Rule] | Sequence[str | Rule | type[Rule]],
    *,
    depth: int,
    seed: int = 0,
    device: str | torch.device | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RecurrentStack:
    """Build the first ``depth`` layers of ``layers`` (see the module docstring) for ``in_features``.

    Args:
        layers: the layer tables (checked here).
        in_features: F of each input step (text: the vocabulary size).
        rule: the rule of every Hebbian RNN layer (each gets its own copy), or one per RNN layer.
        depth: layers to build; the probe reads layer ``depth``.
        seed: weight initialisation seed (layer i uses a seed derived from it).
        device: where the weights live.
        overrides: searched layer values, ``{"layers[i].key": value}``.

    Raises:
        LayerSpecError: an invalid layer (``layers[i].key``).
        ValueError: a bad depth or override, or settings a layer refuses (e.g. Krotov's ``k`` >= units).
    """
    specs = check_sequence_layers(_apply_overrides(layers, overrides or {}))
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= len(specs):
        raise ValueError(f"depth must be an int in 1..{len(specs)}, got {depth!r}")
    specs = specs[:depth]
    rules = _rules(rule, sum(spec["type"] == "rnn" for spec in specs))
    blocks: list[nn.Module] = []
    posts: list[nn.Module] = []
    chunks: list[int | None] = []
    features = int(in_features)
    for i, spec in enumerate(specs):
        layer_seed = (int(seed) * 1_000_003 + i) % 2**63
        activation_params = {"power": spec["power"]} if spec.get("power") is not None else None
        try:
            if spec["type"] == "rnn":
                layer: nn.Module = HebbianRNN(
                    features, spec["units"], rules.pop(0), activation=spec["activation"],
                    activation_params=activation_params, bias=spec["bias"],
                    input_norm=None if spec["input_norm"] == "none" else spec["input_norm"],
                    init=spec["init"], seed=layer_seed, device=device)
                post: nn.Module = nn.Identity()
                features = spec["units"]
            elif spec["type"] == "lateral":
                layer = HebbianLateral(features, spec["units"], lmbda=spec["lmbda"], eta=spec["eta"],
                                       connectivity=spec["connectivity"],
                                       connectivity_prob=spec["connectivity_prob"], seed=layer_seed,
                                       device=device)
                layer.weight.requires_grad_(False)  # a fixed random kernel here: only L learns (Hebbian)
                post = get_activation(spec["activation"], **(activation_params or {}))
                features = spec["units"]
            else:
                layer = MemoriaLayer(features, **{k: spec[k] for k in _MEMORIA_INTS if k != "chunk"},
                                     lifespan_extend_scale=spec["lifespan_extend_scale"], device=device)
                post = nn.Identity()
                features = 2 * features
        except ValueError as exc:
            raise ValueError(f"layer {i + 1} ({spec['type']}): {exc}") from None
        blocks.append(layer)
        posts.append(post)
        chunks.append(spec["chunk"] if spec["type"] == "memoria" else None)
    return RecurrentStack(blocks, in_features, posts=posts, chunks=chunks, name="layers").to(device)


def build_hebbian_gru(
    in_features: int,
    num_outputs: int,
    rule: str | Rule | type[Rule],
    *,
    hidden: int = 128,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> tuple[BasicHebbianGRUModel, RecurrentStack]:
    """The ``hebbian_gru`` preset: a :class:`BasicHebbianGRUModel` ``(in_features, hidden, num_outputs)``
    and a one-block :class:`RecurrentStack` sharing its Hebbian projection (``model.hebbian``), which the
    layer-wise trainer trains; the GRU and FC layers are the supervised head.

    Its Hebbian learning rate ``model.lr`` is 0: the trainer steps the projection, so ``model`` in
    training mode is an ordinary backprop module for the head.
    """
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
        raise ValueError(f"preset 'hebbian_gru': option 'hidden' must be an int >= 1, got {hidden!r}")
    model = BasicHebbianGRUModel(in_features, hidden, num_outputs, get_rule(copy.deepcopy(rule)), lr=0.0,
                                 seed=(int(seed) * 1_000_003) % 2**63)
    model.to(device)
    stack = RecurrentStack([model.hebbian], in_features, name="hebbian_gru")
    return model, stack


__all__ = ["SEQUENCE_LAYER_TYPES", "SEQUENCE_PRESETS", "RecurrentStack", "build_hebbian_gru",
           "build_sequence_stack", "check_sequence_layer", "check_sequence_layers", "is_sequence_layers",
           "list_sequence_presets", "sequence_layer_keys"]
