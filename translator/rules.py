"""Loads the declarative rule tables in rules/*.toml into frozen records."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from .files import cached

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
REQUIRED = "<required>"


class RuleError(Exception):
    """A rule table is malformed (a bug in rules/, not in the user's script)."""


@dataclass(frozen=True)
class ArgSpec:
    """One target argument: where its value comes from and the target's own default."""

    target: str  # keyword on the target; "" for a hook that returns several keywords
    source: str  # Keras argument name, "@channels", "=code" or "!hook"
    default: str | None = None  # target default as source text: elided when equal


@dataclass(frozen=True)
class Mapping:
    """A Keras callable (layer, optimizer, callback) and how it becomes a target call."""

    id: str
    kind: str
    keras: str
    signature: tuple[tuple[str, str], ...]
    torch: str = ""
    args: tuple[ArgSpec, ...] = ()
    positional: int = 0
    hook: str = ""
    module: str = ""
    shape: str = "same"
    layout: str = "any"
    fold: str = ""
    renames: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    weights: tuple[tuple[str, str, tuple[int, ...] | None, tuple], ...] = ()
    examples: tuple[dict, ...] = ()
    own_activation: bool = False  # `activation` works inside the layer (RNN cells), not after it
    # a support class that takes the Keras arguments as they are: a layer object the script
    # also uses outside its model (`normalizer.adapt(x)`) is made with it beside the model
    layer_object: str = ""

    def defaults(self) -> dict[str, str]:
        return dict(self.signature)


@dataclass(frozen=True)
class LossRule:
    id: str
    names: tuple[str, ...]
    signature: tuple[tuple[str, str], ...]
    logits: str
    probs: str
    fold: str = ""
    args: tuple[ArgSpec, ...] = ()
    examples: tuple[dict, ...] = ()


@dataclass(frozen=True)
class MetricRule:
    id: str
    names: tuple[str, ...]
    torch: str
    examples: tuple[dict, ...] = ()
    keras: str = ""  # the keras.metrics class
    function: str = ""  # the keras.metrics function
    signature: tuple[tuple[str, str], ...] = ()
    args: tuple[ArgSpec, ...] = ()
    stateful: bool = False  # a support class with reset/update/result, not a function of one batch

    @property
    def auto_named(self) -> bool:
        """Keras names the object itself (numbered per session) when `name` is not given."""
        return dict(self.signature).get("name") == "None"


@dataclass(frozen=True)
class RuleSet:
    """Every rule table, indexed the way the engine looks them up."""

    prefixes: tuple[tuple[str, str], ...]
    aliases: dict[str, str]
    keywords: dict[str, str]
    activations: dict[str, str]
    folds: dict[str, str]
    layers: dict[str, Mapping]  # by Keras class name
    optimizers: dict[str, Mapping]  # by Keras class name and lower-case string
    callbacks: dict[str, Mapping]
    losses: dict[str, LossRule]  # by every accepted name
    metrics: dict[str, MetricRule]  # by compile string, and keras.metrics.X for classes and functions
    utilities: dict[str, dict]  # canonical key of a helper function or attribute -> its entry
    # activations/in_place: an activation's form right after the torch modules named in `in_place_after`
    in_place: dict[str, str] = dataclass_field(default_factory=dict)
    in_place_after: tuple[str, ...] = ()

    def canonical(self, dotted: str) -> str:
        """Folds a dotted import path to its canonical Keras key."""
        for prefix, replacement in self.prefixes:
            if dotted.startswith(prefix):
                dotted = replacement + dotted[len(prefix) :]
        if dotted.startswith("keras.layers.") and dotted.count(".") > 2:
            # Keras 2 module paths such as keras.layers.recurrent.LSTM
            dotted = "keras.layers." + dotted.rsplit(".", 1)[-1]
        return self.aliases.get(dotted, dotted)


def _utilities() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for table in sorted(RULES_DIR.glob("utilities*.toml")):  # utilities.toml, utilities_images.toml, ...
        for raw in _load(table.name).get("utility", []):
            if ("support" in raw) == ("template" in raw) or "example" not in raw:
                raise RuleError(f"{table.name}: {raw.get('keras')} needs one of support/template, and an example")
            if raw["keras"] in out:
                raise RuleError(f"{table.name}: {raw['keras']} is already defined")
            out[raw["keras"]] = raw
    return out


@functools.cache
def no_equivalent() -> tuple[dict[str, dict], dict[str, dict]]:
    """rules/no_equivalent.toml: calls with no PyTorch counterpart that leave results unchanged, by
    canonical name (a prefix when it ends in ".") and by model method."""
    names: dict[str, dict] = {}
    methods: dict[str, dict] = {}
    for raw in _load("no_equivalent.toml").get("no_equivalent", []):
        if ("keras" in raw) == ("method" in raw) or not raw.get("reason") or not raw.get("example"):
            raise RuleError(f"no_equivalent.toml: {raw} needs one of keras/method, a reason and an example")
        table, key = (names, raw["keras"]) if "keras" in raw else (methods, raw["method"])
        if key in table:
            raise RuleError(f"no_equivalent.toml: {key} is already defined")
        table[key] = raw
    return names, methods


def no_equivalent_reason(key: str | None) -> str | None:
    """Why the canonical name `key` has no translation, when rules/no_equivalent.toml says."""
    names, _ = no_equivalent()
    if not key:
        return None
    for name, raw in names.items():
        if key == name or (name.endswith(".") and key.startswith(name)):
            return raw["reason"]
    return None


def _table_names() -> list[str]:
    """The tables load_rules and no_equivalent read (ops.toml and parity.toml are read elsewhere)."""
    fixed = ["names.toml", "activations.toml", "optimizers.toml", "callbacks.toml", "losses.toml",
             "metrics.toml", "no_equivalent.toml"]
    globbed = [p.name for pattern in ("layers*.toml", "utilities*.toml") for p in sorted(RULES_DIR.glob(pattern))]
    return fixed + globbed


def _parse_tables(names: list[str], contents: list[bytes]) -> dict[str, dict]:
    import tomllib

    return {name: tomllib.loads(data.decode()) for name, data in zip(names, contents, strict=True)}


@functools.cache
def _tables() -> dict[str, dict]:
    """The parsed rule tables by file name, from the cache of parsed tables when none changed."""
    names = _table_names()
    return cached("rules", [RULES_DIR / n for n in names] + [Path(__file__)],
                  lambda contents: _parse_tables(names, contents[:-1]))


def _load(name: str) -> dict:
    tables = _tables()
    if name in tables:
        return tables[name]
    import tomllib

    with open(RULES_DIR / name, "rb") as f:
        return tomllib.load(f)


def _args(raw: list) -> tuple[ArgSpec, ...]:
    specs = []
    for item in raw:
        if len(item) == 1:
            specs.append(ArgSpec("", item[0]))
        else:
            specs.append(ArgSpec(item[0], item[1], item[2] if len(item) > 2 else None))
    return tuple(specs)


WEIGHT_OPS = ("row", "gates", "reshape")  # applied in this order, before the permutation


def weight_ops(raw: dict) -> tuple[tuple[str, object], ...]:
    """A weight recipe's array steps (take a row, reorder gate blocks, reshape) as a frozen tuple."""
    unknown = set(raw) - set(WEIGHT_OPS)
    if unknown:
        raise RuleError(f"unknown weight steps {sorted(unknown)}; known: {', '.join(WEIGHT_OPS)}")
    return tuple((k, tuple(raw[k]) if isinstance(raw[k], list) else raw[k])
                 for k in WEIGHT_OPS if k in raw)


def _mapping(kind: str, raw: dict) -> Mapping:
    if not raw.get("example"):
        raise RuleError(f"{kind} rule {raw.get('id')!r} has no example")
    return Mapping(
        id=raw["id"],
        kind=kind,
        keras=raw["keras"],
        signature=tuple(raw.get("signature", {}).items()),
        torch=raw.get("torch", ""),
        args=_args(raw.get("args", [])),
        positional=raw.get("positional", 0),
        hook=raw.get("hook", ""),
        module=raw.get("module", ""),
        shape=raw.get("shape", "same"),
        layout=raw.get("layout", "any"),
        fold=raw.get("fold", ""),
        renames=tuple(raw.get("renames", {}).items()),
        ignore=tuple(raw.get("ignore", [])),
        unsupported=tuple(raw.get("unsupported", [])),
        weights=tuple(
            (w[0], w[1], tuple(w[2]) if len(w) > 2 and w[2] else None,
             weight_ops(w[3]) if len(w) > 3 else ()) for w in raw.get("weights", [])
        ),
        examples=tuple(raw["example"]),
        own_activation=raw.get("own_activation", False),
        layer_object=raw.get("layer_object", ""),
    )


@functools.cache
def load_rules() -> RuleSet:
    """Reads and validates rules/*.toml once per process."""
    names = _load("names.toml")
    acts = _load("activations.toml")
    layers = {}
    for table in sorted(RULES_DIR.glob("layers*.toml")):  # layers.toml, layers_recurrent.toml, ...
        for raw in _load(table.name).get("layer", []):
            m = _mapping("layer", raw)
            if m.keras in layers:
                raise RuleError(f"{table.name}: {m.keras} is already defined")
            layers[m.keras] = m
    optimizers: dict[str, Mapping] = {}
    for raw in _load("optimizers.toml")["optimizer"]:
        m = _mapping("optimizer", raw)
        optimizers[m.keras] = optimizers[m.keras.lower()] = m
    callbacks = {m.keras: m for m in (_mapping("callback", r) for r in _load("callbacks.toml")["callback"])}
    losses: dict[str, LossRule] = {}
    for raw in _load("losses.toml")["loss"]:
        if not raw.get("example"):
            raise RuleError(f"loss rule {raw['id']!r} has no example")
        rule = LossRule(
            id=raw["id"],
            names=tuple(raw["names"]),
            signature=tuple(raw.get("signature", {}).items()),
            logits=raw["logits"],
            probs=raw["probs"],
            fold=raw.get("fold", ""),
            args=_args(raw.get("args", [])),
            examples=tuple(raw["example"]),
        )
        for n in rule.names:
            losses[n] = rule
    metrics: dict[str, MetricRule] = {}
    for raw in _load("metrics.toml")["metric"]:
        if not raw.get("example"):
            raise RuleError(f"metric rule {raw['id']!r} has no example")
        rule = MetricRule(raw["id"], tuple(raw["names"]), raw["torch"], tuple(raw["example"]),
                          keras=raw.get("keras", ""), function=raw.get("function", ""),
                          signature=tuple(raw.get("signature", {}).items()), args=_args(raw.get("args", [])),
                          stateful=raw.get("stateful", False))
        # compile strings by themselves; the class and the function by their canonical keys
        keys = [*rule.names, *(f"keras.metrics.{n}" for n in (rule.keras, rule.function) if n)]
        for n in keys:
            if n in metrics:
                raise RuleError(f"metrics.toml: {n} is already defined")
            metrics[n] = rule
    prefixes = tuple(sorted(names["prefixes"].items(), key=lambda kv: -len(kv[0])))
    return RuleSet(
        prefixes=prefixes,
        aliases=names["aliases"],
        keywords=names["keywords"],
        activations=acts["activation"],
        folds=acts["fold"],
        in_place=acts.get("in_place", {}).get("form", {}),
        in_place_after=tuple(acts.get("in_place", {}).get("after", ())),
        layers=layers,
        optimizers=optimizers,
        callbacks=callbacks,
        losses=losses,
        metrics=metrics,
        utilities=_utilities(),
    )
