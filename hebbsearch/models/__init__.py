"""Published Hebbian architectures as presets: ``build_stack(preset, in_shape, rule, depth=n)``."""

from hebbsearch.models._presets import build_stack, list_presets, preset_options
from hebbsearch.models._stack import HebbianBlock, HebbianStack

__all__ = ["HebbianBlock", "HebbianStack", "build_stack", "list_presets", "preset_options"]
