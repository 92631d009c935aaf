"""Hebbian stacks: ``build_stack(preset, in_shape, rule, depth=n)`` from a published preset or from an
explicit list of layers (:func:`preset_from_layers`); sequence models (:class:`BasicHebbianGRUModel`)."""

from hebbsearch.models._custom import LayerSpecError, preset_from_layers
from hebbsearch.models._gru import BasicHebbianGRUModel
from hebbsearch.models._presets import Preset, build_stack, list_presets, preset_options
from hebbsearch.models._stack import HebbianBlock, HebbianStack

__all__ = ["BasicHebbianGRUModel", "HebbianBlock", "HebbianStack", "LayerSpecError", "Preset", "build_stack",
           "list_presets", "preset_from_layers", "preset_options"]
