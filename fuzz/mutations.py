"""Hostile inputs for the translator: mutated Keras scripts and odd-but-valid model forms."""

# Every function here is deterministic for a given random.Random, so a crash found by the fuzz
# script is reproduced by its seed and index alone.

from __future__ import annotations

import io
import random
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Tokens swapped in for others: names, wrong-typed literals, Keras-looking pieces.
REPLACEMENTS = (
    "None", "0", "-1", "2 ** 40", "0.0", "-3.5", "'same'", "'valid'", "'relu'", "''", "b'x'",
    "(1, 2)", "(0, 0)", "()", "[]", "{}", "[1, [2]]", "{'units': 3}", "x", "model", "keras",
    "layers", "Dense", "Conv2D", "keras.layers", "tf.keras", "lambda: 0", "...", "True", "False",
    "float('nan')", "1j", "*args", "**kwargs", "print", "self", "Sequential", "(", ")", ",", ":",
    "=", ".", "[", "]", "not", "await", "yield", "del", "f'{x}'", "'''", "\\",
)
# Wrong-typed arguments for a number literal inside a call.
WRONG_TYPES = ("'3'", "None", "3.7", "-2", "0", "(3, 3, 3)", "[3]", "True", "{'a': 1}",
               "'relu'", "lambda x: x", "2 ** 62", "float('inf')", "1e-300", "x")

# Valid Python that builds models in forms the translator must not choke on.
TEMPLATES = (
    '''import keras
from keras import layers
model = keras.Sequential()
for units in [16, 8, 4]:
    model.add(layers.Dense(units, activation="relu"))
model.add(layers.Dense(1))
model.compile(optimizer="adam", loss="mse")
''',
    '''import keras
from keras import layers
model = keras.Sequential([layers.Dense(n, activation="relu") for n in (32, 16)] + [layers.Dense(2)])
model.compile(optimizer="adam", loss="mse")
''',
    '''import keras
cfg = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense",
       "config": {"units": 3}}]}}
model = keras.Sequential.from_config(cfg["config"])
model2 = keras.models.model_from_json('{"class_name": "Sequential"}')
model.compile(optimizer="adam", loss="mse")
''',
    '''import keras
spec = {"units": 8, "activation": "relu"}
model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(**spec),
                          keras.layers.Dense(*[2])])
model.compile(**{"optimizer": "sgd", "loss": "mse"})
model.fit(*data, **options)
''',
    '''import keras
from keras import layers
names = ["Dense", "Dropout"]
built = [getattr(layers, n)(4) if n == "Dense" else getattr(layers, n)(0.1) for n in names]
model = keras.Sequential(built)
model.compile(optimizer=keras.optimizers.get("adam"), loss=keras.losses.get("mse"))
''',
    '''import keras
def block(units):
    return [keras.layers.Dense(units), keras.layers.ReLU()]
model = keras.Sequential([keras.Input((5,)), *block(8), *block(4), keras.layers.Dense(1)])
model.compile("adam", "mse")
''',
    '''import keras
class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(3)
    def call(self, x):
        return self.d(x)
model = Net()
model.compile(optimizer="adam", loss="mse")
''',
    '''import keras
inputs = keras.Input(shape=(8,))
x = keras.layers.Dense(4)(inputs)
outputs = keras.layers.Dense(1)(x)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="mse")
''',
    '''import keras
model = keras.Sequential([keras.layers.Dense(4)] * 3)
model = keras.Sequential(model.layers[:-1])
model.layers[0].trainable = False
keras.Sequential = None
model.compile(optimizer="adam", loss=lambda a, b: (a - b) ** 2)
''',
    '''import keras
while True:
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    with open("log") as f:
        model.compile(optimizer="adam", loss="mse")
    break
else:
    model = None
''',
    '''from keras.layers import *
from keras.models import *
model = Sequential([Dense(4, input_dim=3), Activation("relu"), Dense(1)])
model.compile(optimizer="rmsprop", loss="mae", metrics=[])
''',
    '''import keras
import keras as k2, keras.layers as kl
L = keras.layers
L2 = L
model = k2.Sequential([kl.Dense(3, input_shape=(2,)), L2.Dense(1)])
model.compile(optimizer=k2.optimizers.Adam(1e-3), loss="mse")
model.fit(x=None, y=None, epochs="three")
''',
    '''import keras
model = keras.Sequential(layers=[keras.layers.Conv2D(filters=4, kernel_size=(3, 3, 3),
                                                      input_shape=(8, 8)),
                                 keras.layers.MaxPooling2D(pool_size=0, strides=-1),
                                 keras.layers.Reshape(target_shape=(-1, -1)),
                                 keras.layers.Dense(units=0)])
model.compile(optimizer="adam", loss="categorical_crossentropy")
''',
    '''import keras
model = keras.Sequential([keras.Input(shape=(None, None, 3)),
                          keras.layers.Conv2D(4, 3, strides=0, padding="same"),
                          keras.layers.ZeroPadding2D(padding=((1,), (2, 3, 4))),
                          keras.layers.GlobalMaxPooling2D(), keras.layers.Dense(2)])
model.compile(optimizer="adam", loss="mse")
''',
)


def seed_sources() -> list[str]:
    """The golden inputs and the parity cases: real scripts to mutate."""
    paths = sorted((ROOT / "fixtures").glob("*/input.py"))
    paths += sorted((ROOT / "tests" / "parity_cases").glob("*_keras.py"))
    paths += sorted((ROOT / "tests" / "fuzz_regressions").glob("*.py"))
    return [p.read_text(encoding="utf-8") for p in paths] + list(TEMPLATES)


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []


def _replace_span(source: str, token: tokenize.TokenInfo, text: str) -> str:
    lines = source.splitlines(keepends=True)
    (srow, scol), (erow, ecol) = token.start, token.end
    if srow != erow or srow > len(lines):
        return source
    line = lines[srow - 1]
    lines[srow - 1] = line[:scol] + text + line[ecol:]
    return "".join(lines)


def mutate(source: str, rng: random.Random) -> tuple[str, str]:
    """One random mutation of a script: (what was done, the new source)."""
    lines = source.splitlines(keepends=True)
    kind = rng.choice(("delete", "duplicate", "swap", "token", "wrong-type", "indent",
                       "truncate", "loop", "comprehension", "chain"))
    if not lines:
        return "empty", source
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if kind == "delete":
        del lines[i]
        return f"delete line {i + 1}", "".join(lines)
    if kind == "duplicate":
        lines.insert(i, lines[i])
        return f"duplicate line {i + 1}", "".join(lines)
    if kind == "swap":
        lines[i], lines[j] = lines[j], lines[i]
        return f"swap lines {i + 1} and {j + 1}", "".join(lines)
    if kind == "indent":
        lines[i] = "    " + lines[i]
        return f"indent line {i + 1}", "".join(lines)
    if kind == "truncate":
        cut = rng.randrange(len(source) + 1)
        return f"truncate at {cut}", source[:cut]
    tokens = [t for t in _tokens(source) if t.type in (tokenize.NAME, tokenize.NUMBER,
                                                       tokenize.STRING, tokenize.OP)]
    if not tokens:
        return "no tokens", source
    if kind == "token":
        token = rng.choice(tokens)
        text = rng.choice(REPLACEMENTS)
        return f"token {token.string!r} -> {text!r}", _replace_span(source, token, text)
    if kind == "wrong-type":
        numbers = [t for t in tokens if t.type in (tokenize.NUMBER, tokenize.STRING)] or tokens
        token = rng.choice(numbers)
        text = rng.choice(WRONG_TYPES)
        return f"argument {token.string!r} -> {text!r}", _replace_span(source, token, text)
    calls = [n for n, line in enumerate(lines) if "layers." in line or "Dense(" in line
             or "Conv" in line or ".add(" in line]
    if not calls:
        return "no layer line", source
    n = rng.choice(calls)
    stripped = lines[n].strip()
    indent = lines[n][: len(lines[n]) - len(lines[n].lstrip())]
    if kind == "loop":
        lines[n] = f"{indent}for _i in range(2):\n{indent}    {stripped}\n"
        return f"line {n + 1} in a loop", "".join(lines)
    if kind == "comprehension":
        body = stripped.rstrip(",")
        lines[n] = f"{indent}*[{body} for _ in range(2)],\n" if stripped.endswith(",") else \
            f"{indent}_made = [{body} for _ in range(2)]\n"
        return f"line {n + 1} in a comprehension", "".join(lines)
    lines.insert(n + 1, lines[n])
    lines.insert(n, lines[rng.randrange(len(lines))])
    return f"chain around line {n + 1}", "".join(lines)


def mutated_inputs(count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (description, source) pairs: 1 to 3 mutations of a seed script each."""
    rng = random.Random(seed)
    seeds = seed_sources()
    out = []
    for n in range(count):
        base = rng.randrange(len(seeds))
        source = seeds[base]
        steps = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            what, source = mutate(source, rng)
            steps.append(what)
        out.append((f"seed {seed} #{n}: source {base}, " + "; ".join(steps), source))
    return out
