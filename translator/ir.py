"""The facts translation learns about a script: models, their layers and where each went."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Torch-side layout of a tensor between two layers. Rank-2 tensors have no layout.
CHANNELS_LAST = "channels_last"  # as Keras holds it: (N, ..., C)
CHANNELS_FIRST = "channels_first"  # as torch convolves it: (N, C, ...)

#: Keras merge layers -> the op of the `Merge` support module.
MERGE_LAYERS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
                "Maximum": "maximum", "Minimum": "minimum", "Concatenate": "concatenate", "Dot": "dot"}
#: the keyword arguments each merge layer takes (besides `name`); the first may be positional
MERGE_ARGS = {"Concatenate": ("axis",), "Dot": ("axes", "normalize")}
#: Keras' function forms (`layers.concatenate([a, b])`) -> their layer class.
MERGE_FUNCTIONS = {name.lower(): name for name in MERGE_LAYERS}


@dataclass(frozen=True)
class LayerMap:
    """One Keras layer and the attribute of the translated model that computes it."""

    keras_name: str  # the name Keras gives the layer (predicted statically: "dense_1")
    keras_class: str  # canonical Keras class name: "Dense"
    attribute: str  # attribute on the torch model that computes exactly this layer
    layout_in: str  # torch layout of the attribute's input (CHANNELS_LAST or CHANNELS_FIRST)
    layout_out: str  # torch layout of the attribute's output
    folded: str | None = None  # "softmax" / "sigmoid" when the activation went into the loss
    weights: tuple[tuple[str, str, tuple[int, ...] | None, tuple], ...] = ()
    # Keras weight name -> (torch parameter path relative to the attribute, axis permutation,
    # array steps before it: rules.WEIGHT_OPS); several recipes of one name apply in weight order


@dataclass(frozen=True)
class ModelInfo:
    """A Keras model found in the script and the torch class it became."""

    variable: str  # the variable the script binds the model to
    class_name: str  # the emitted nn.Module class
    layers: tuple[LayerMap, ...] = field(default_factory=tuple)
    input_shape: tuple[int | None, ...] | None = None  # Keras input shape without the batch axis
