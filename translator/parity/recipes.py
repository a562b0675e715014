"""Weight recipes and optimizer tables for parity: Keras weights to a torch state dict, in numpy."""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..ir import LayerMap, ModelInfo

PARITY_RULES = Path(__file__).resolve().parent.parent.parent / "rules" / "parity.toml"
BOUNDS = ("float32", "lr", "lr/sqrt(1-rho)")


@dataclass(frozen=True)
class OptimizerRule:
    """How one Keras optimizer's configuration reads on a torch.optim param_group."""

    keras: str
    torch: tuple[str, ...]
    hyper: tuple[tuple[str, str], ...]
    none: tuple[tuple[str, object], ...]
    expect: tuple[tuple[str, object], ...]
    update: str
    reason: str
    # Keras key -> the key whose zero makes it inert (SGD ignores nesterov without momentum)
    inert_without: tuple[tuple[str, str], ...] = ()
    # the first step moves each weight by about lr * g / (|g| + epsilon): see gradient_noise_bound
    normalized: bool = False

    def step_bound(self, keras_config: dict, learning_rate: float) -> float:
        """The widest |w_torch - w_keras| one step may add, by this optimizer's named bound."""
        if self.update == "lr":
            return abs(learning_rate)
        if self.update == "lr/sqrt(1-rho)":
            rho = float(keras_config.get("rho", 0.9))
            if keras_config.get("centered"):  # torch's first step divides by sqrt(rho (1 - rho)) |g|
                rho_term = rho * (1.0 - rho)
            else:
                rho_term = 1.0 - rho
            return abs(learning_rate) / math.sqrt(max(rho_term, 1e-12))
        return 0.0

    def gradient_noise_bound(self, keras_config: dict, learning_rate: float, keras_grad: np.ndarray,
                             torch_grad: np.ndarray) -> np.ndarray | float:
        """What the two sides' float32 gradient difference can move a weight in the first step of
        an optimizer that normalises the gradient (step ~ lr * c * g / (|g| + eps), c about 1):
        near |g| ~ eps a rounding-size difference in g becomes a visible one in the step. Bounded
        per value by lr * c * |dg| * eps / (|g|min + eps)^2 (the slope of g / (|g| + eps) over the
        interval between the two gradients; |g|min = 0 when they differ in sign), with c = 2."""
        if not self.normalized or keras_grad.shape != torch_grad.shape:
            return 0.0
        eps = float(keras_config.get("epsilon") or 1e-7)
        dg = np.abs(keras_grad.astype(np.float64) - torch_grad)
        low = np.where(np.sign(keras_grad) == np.sign(torch_grad),
                       np.minimum(np.abs(keras_grad), np.abs(torch_grad)), 0.0)
        return 2.0 * abs(learning_rate) * dg * eps / (low + eps) ** 2


@dataclass(frozen=True)
class ParityRules:
    atol: float
    rtol: float
    optimizers: dict[str, OptimizerRule]
    keras_only: dict[str, str]  # Keras config key -> its inactive value as source text
    decoupled_classes: tuple[str, ...]
    decoupled_flag: str
    weight_bounds: dict[str, tuple[str, str]]  # Keras weight name -> (bound, reason)


@functools.cache
def load_parity_rules(path: Path = PARITY_RULES) -> ParityRules:
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    optimizers = {}
    for name, table in raw["optimizer"].items():
        if table["update"] not in BOUNDS:
            raise ValueError(f"rules/parity.toml: optimizer {name}: unknown bound {table['update']!r}")
        optimizers[name] = OptimizerRule(
            keras=name, torch=tuple(table["torch"]), hyper=tuple(table["hyper"].items()),
            none=tuple(table.get("none", {}).items()), expect=tuple(table.get("expect", {}).items()),
            update=table["update"], reason=table["reason"],
            inert_without=tuple(table.get("inert_without", {}).items()),
            normalized=bool(table.get("normalized", False)))
    return ParityRules(
        atol=raw["tolerance"]["atol"], rtol=raw["tolerance"]["rtol"], optimizers=optimizers,
        keras_only=dict(raw["keras_only"]["inactive"]),
        decoupled_classes=tuple(raw["decoupled_weight_decay"]["classes"]),
        decoupled_flag=raw["decoupled_weight_decay"]["flag"],
        weight_bounds={k: (v["bound"], v["reason"]) for k, v in raw.get("weight", {}).items()},
    )


@dataclass(frozen=True)
class WeightLink:
    """One Keras weight and the torch state-dict entry it becomes."""

    layer: int  # index in the Keras model's layers (InputLayer excluded)
    weight: int  # index in that layer's weights
    keras_name: str  # "kernel"
    keras_label: str  # "dense_1/kernel", for reports
    torch_key: str  # "dense_1.0.weight"
    permute: tuple[int, ...] | None
    steps: tuple[tuple[str, object], ...] = ()  # rules.WEIGHT_OPS, applied before the permutation

    @property
    def computed(self) -> bool:
        """A value both sides compute from the data (Normalization's adapted statistics)."""
        return any(op == "computed" for op, _ in self.steps)

    def to_torch(self, a: np.ndarray) -> np.ndarray:
        a = apply_steps(a, self.steps)
        return np.ascontiguousarray(np.transpose(a, self.permute)) if self.permute else a


def apply_steps(a: np.ndarray, steps: tuple[tuple[str, object], ...]) -> np.ndarray:
    """A Keras array through a recipe's steps: take a row (GRU's two bias rows), reorder the
    equal gate blocks of the last axis (Keras z,r,h -> torch r,z,n), reshape (depthwise kernels)."""
    for op, arg in steps:
        if op == "row":
            a = a[int(arg)]  # type: ignore[call-overload]
        elif op == "gates":
            blocks = np.split(a, len(arg), axis=-1)  # type: ignore[arg-type]
            a = np.concatenate([blocks[int(i)] for i in arg], axis=-1)  # type: ignore[union-attr]
        elif op == "reshape":
            a = a.reshape(tuple(int(d) for d in arg))  # type: ignore[union-attr]
        elif op == "computed":
            pass  # the translation computes this value itself (adapt): compared before loading
        else:
            raise ValueError(f"unknown weight step {op!r}")
    return a


@dataclass(frozen=True)
class Plan:
    """How the Keras model's weights reach the torch model, and what did not fit."""

    links: tuple[WeightLink, ...]
    problems: tuple[tuple[int, str], ...]  # (Keras layer index, message)
    by_name: bool


def classes_of(keras_layers: Sequence[dict]) -> list[str]:
    return [layer["class"] for layer in keras_layers]


def select_model(models: Sequence[ModelInfo], keras_model: dict) -> tuple[ModelInfo | None, str]:
    """The translated model that is the Keras model trained first: by variable and layer classes."""
    classes = classes_of(keras_model["layers"])
    same = [m for m in models if [lm.keras_class for lm in m.layers] == classes]
    for m in same:
        if m.variable and m.variable == keras_model.get("variable"):
            return m, ""
    if same:
        return same[0], ""
    for m in models:  # a graph's branches: Keras lists layers by depth, the translation in call order
        reordered = in_keras_order(m, keras_model["layers"])
        if reordered is not None:
            return reordered, ""
    if not models:
        return None, "the translation reports no models"
    names = ", ".join(f"{m.variable} ({len(m.layers)} layers)" for m in models)
    return None, (f"no translated model has the trained Keras model's layers "
                  f"({', '.join(classes)}); the translation has {names}")


def in_keras_order(info: ModelInfo, keras_layers: Sequence[dict]) -> ModelInfo | None:
    """`info` with its layers in the Keras model's order, when both hold the same layers by name
    and class; None otherwise."""
    by_name = {lm.keras_name: lm for lm in info.layers}
    if len(by_name) != len(info.layers) or len(info.layers) != len(keras_layers):
        return None
    ordered = [by_name.get(layer["name"]) for layer in keras_layers]
    if any(lm is None or lm.keras_class != layer["class"] for lm, layer in zip(ordered, keras_layers)):
        return None
    return replace(info, layers=tuple(ordered))


def plan_by_layer_map(info: ModelInfo, keras_layers: Sequence[dict]) -> Plan:
    """Links by the layer map: each Keras weight through its layer's recipe."""
    links, problems = [], []
    for i, (lm, kl) in enumerate(zip(info.layers, keras_layers, strict=True)):
        recipes: dict[str, list] = {}
        for name, path, perm, *steps in lm.weights:
            recipes.setdefault(name, []).append((path, perm, steps[0] if steps else ()))
        seen: dict[str, int] = {}
        named = [{**w, "name": _recipe_name(w["name"], recipes)} for w in kl["weights"]]
        for j, w in enumerate(named):
            if w["name"] not in recipes:
                problems.append((i, f"Keras weight {w['name']!r} has no recipe in the layer map"))
                continue
            # a name Keras repeats (Bidirectional's two directions) takes its recipes in order;
            # a recipe may also send one Keras weight to several torch entries (GRU's bias rows)
            occurrence = seen.get(w["name"], 0)
            seen[w["name"]] = occurrence + 1
            group = _occurrence(recipes[w["name"]], occurrence, named, w["name"])
            for path, perm, steps in group:
                if not path:  # a Keras bookkeeping weight torch has no use for (an adapt count)
                    continue
                links.append(WeightLink(i, j, w["name"], f"{kl['name']}/{w['name']}",
                                        f"{lm.attribute}.{path}", tuple(perm) if perm else None,
                                        tuple(steps)))
    return Plan(tuple(links), tuple(problems), True)


def _recipe_name(name: str, recipes: dict) -> str:
    """Keras names an add_weight given no name "variable", "variable_1", ... by a count kept over
    the whole process, so the layer map names them all "variable", in order."""
    if name not in recipes and re.fullmatch(r"variable_\d+", name):
        return "variable"
    return name


def _occurrence(recipes: list, occurrence: int, keras_weights: Sequence[dict], name: str) -> list:
    """The recipes for the n-th Keras weight called `name`: they split evenly among its copies."""
    copies = max(sum(1 for w in keras_weights if w["name"] == name), 1)
    per_copy = max(len(recipes) // copies, 1)
    return recipes[occurrence * per_copy:(occurrence + 1) * per_copy]


def plan_by_order(keras_layers: Sequence[dict], recipes: dict[str, dict[str, tuple | None]],
                  layer_maps: Sequence[LayerMap] = ()) -> Plan:
    """Links in Keras weight order; torch keys are filled in by the torch side's state-dict order."""
    links, problems = [], []
    maps = {i: lm for i, lm in enumerate(layer_maps)}
    for i, kl in enumerate(keras_layers):
        perms = dict(recipes.get(kl["class"], {}))
        if i in maps and maps[i].keras_class == kl["class"]:
            perms.update({name: perm for name, _, perm, *_ in maps[i].weights})
        for j, w in enumerate(kl["weights"]):
            if w["name"] not in perms and len(w["shape"]) > 1:
                problems.append((i, f"no recipe for Keras weight {kl['class']}.{w['name']}"))
            perm = perms.get(w["name"])
            links.append(WeightLink(i, j, w["name"], f"{kl['name']}/{w['name']}", "",
                                    tuple(perm) if perm else None))
    return Plan(tuple(links), tuple(problems), False)


def class_recipes() -> dict[str, dict[str, tuple | None]]:
    """Per Keras class, each weight's permutation, from the translator's own layer rules."""
    try:
        from ..rules import load_rules

        layers = load_rules().layers
    except Exception:  # noqa: BLE001 - rules unavailable: only the layer map can say
        return {}
    return {name: {w: perm for w, _, perm, *_ in rule.weights} for name, rule in layers.items()}


def inverse(perm: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return None if perm is None else tuple(int(i) for i in np.argsort(perm))


def float32_equal(a, b) -> bool:
    """Hyper-parameters match exactly at float32 precision (Keras stores the rate as float32)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b or (a in (None, 0, 0.0, False) and b in (None, 0, 0.0, False) and
                          not isinstance(a, bool) and not isinstance(b, bool))
    try:
        return bool(np.float32(a) == np.float32(b))
    except (TypeError, ValueError):
        return a == b


def lookup(group: dict, path: str):
    """A param_group value by a path such as "betas.0"."""
    key, _, index = path.partition(".")
    value = group.get(key)
    if index and isinstance(value, list | tuple):
        return value[int(index)] if int(index) < len(value) else None
    return value
