"""Hebbian stacks: ``build_stack(preset, in_shape, rule, depth=n)`` from a published preset or from an
explicit list of layers (:func:`preset_from_layers`); sequence models (:class:`BasicHebbianGRUModel`) and
recurrent stacks (:func:`build_sequence_stack` → :class:`RecurrentStack`)."""

from hebbsearch.models._custom import LayerSpecError, preset_from_layers
from hebbsearch.models._gru import BasicHebbianGRUModel
from hebbsearch.models._presets import Preset, build_stack, list_presets, preset_options
from hebbsearch.models._recurrent_stack import (
    SEQUENCE_LAYER_TYPES,
    RecurrentStack,
    build_hebbian_gru,
    build_sequence_stack,
    check_sequence_layers,
    list_sequence_presets,
)
from hebbsearch.models._stack import HebbianBlock, HebbianStack

__all__ = ["SEQUENCE_LAYER_TYPES", "BasicHebbianGRUModel", "HebbianBlock", "HebbianStack", "LayerSpecError",
           "Preset", "RecurrentStack", "build_hebbian_gru", "build_sequence_stack", "build_stack",
           "check_sequence_layers", "list_presets", "list_sequence_presets", "preset_from_layers",
           "preset_options"]
