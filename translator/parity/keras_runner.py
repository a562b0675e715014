"""Runs a Keras script in a sandbox until its first Model.fit, records what parity needs, and exits."""

# Executed as `python -m translator.parity.keras_runner SCRIPT IO_DIR [options]`. The script runs
# unchanged; only keras.Model.fit is replaced, so the first fit call hands over the model and its
# data. Everything is written to IO_DIR (keras.npz, then keras.json last, so a json means done).

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import runpy
import sys
import traceback

import numpy as np

DROPOUT_CLASSES = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                   "AlphaDropout", "GaussianDropout"}
NOISE_CLASSES = {"GaussianNoise"}
# Constant-initialised weights (zero biases, unit gammas, BatchNorm statistics) are randomised,
# so a recipe that swaps or drops them cannot pass by luck.
POSITIVE_WEIGHTS = {"moving_variance", "gamma", "variance"}
RANDOM_BATCH = 8
SEED = 1234


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keras_runner")
    parser.add_argument("script")
    parser.add_argument("io")
    parser.add_argument("--train-steps", type=int, default=1)
    parser.add_argument("--load-weights", default="", help="a .keras/.h5/.weights.h5 file to load")
    parser.add_argument("--no-randomise", action="store_true")
    return parser.parse_args(argv)


def write_results(io: str, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Writes the arrays, then the json (renamed into place: its presence means complete)."""
    if arrays:
        np.savez(os.path.join(io, "keras.npz"), **arrays)
    tmp = os.path.join(io, "keras.json.tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, default=_json_default)
    os.replace(tmp, os.path.join(io, "keras.json"))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return repr(value)


def leave(code: int = 0) -> None:
    """Exits at once: the rest of the script (training for real) must not run."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def variable_name(model, frame) -> str:
    """The name the calling code binds the model to, when there is one."""
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for name, value in scope.items():
                if value is model and not name.startswith("_"):
                    return name
        frame = frame.f_back
    return ""


def as_array(value) -> np.ndarray:
    import keras

    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001 - not a tensor of this backend: plain numpy
        return np.asarray(value)


def to_numpy(value) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def is_batched_source(x) -> bool:
    """A tf.data.Dataset, a keras PyDataset or a generator: data that arrives batched."""
    import keras

    return (hasattr(x, "element_spec") or isinstance(x, keras.utils.PyDataset)
            or (hasattr(x, "__next__") and not hasattr(x, "__len__")))


def first_batch_of(data) -> tuple:
    """(x, y, sample_weight) of the first element of a dataset-like input."""
    import keras

    element = data[0] if isinstance(data, keras.utils.PyDataset) else next(iter(data))
    if isinstance(element, tuple | list):
        parts = list(element) + [None] * (3 - len(element))
        return parts[0], parts[1], parts[2]
    return element, None, None


class Recorder:
    """What the Keras side hands to the parent: metadata and named arrays."""

    def __init__(self) -> None:
        self.meta: dict = {"status": "ok", "notes": []}
        self.arrays: dict[str, np.ndarray] = {}

    def note(self, text: str) -> None:
        self.meta["notes"].append(text)


def model_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        if type(layer).__name__ == "Softmax":
            return "softmax"
        return None
    return getattr(activation, "__name__", None)


def randomise_constants(layers, rng: np.random.Generator) -> None:
    for layer in layers:
        for weight in layer.weights:
            value = to_numpy(weight)
            if value.size == 0 or not np.issubdtype(value.dtype, np.floating):
                continue
            if not np.all(value == value.flat[0]):
                continue
            if weight.name in POSITIVE_WEIGHTS:
                new = rng.uniform(0.5, 1.5, value.shape)
            else:
                new = rng.normal(0.0, 0.2, value.shape)
            weight.assign(new.astype(value.dtype))


def switch_off_dropout(model) -> list[str]:
    """Dropout masks cannot match across frameworks, so both sides train with rate 0."""
    changed = []
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except AttributeError:  # a Keras without the private walk: top-level layers only
        layers = model_layers(model)
    for layer in layers:
        name = type(layer).__name__
        if name in DROPOUT_CLASSES and getattr(layer, "rate", 0):
            layer.rate = 0.0
            changed.append(layer.name)
        elif name in NOISE_CLASSES and getattr(layer, "stddev", 0):
            layer.stddev = 0.0
            changed.append(layer.name)
        elif name.endswith("Cell") and (getattr(layer, "dropout", 0) or
                                        getattr(layer, "recurrent_dropout", 0)):
            layer.dropout = layer.recurrent_dropout = 0.0  # an RNN's input and state dropout
            changed.append(layer.name)
    return changed


#: Training steps compared at least for a model with stateful RNNs.
STATEFUL_STEPS = 3


def reset_stateful(layers) -> None:
    """Stateful RNNs back to zero states, so that every probe (and the first training step)
    starts where the translation's does, whatever ran before."""
    for layer in layers:
        if getattr(layer, "stateful", False) and getattr(layer, "states", None) is not None:
            layer.reset_states()


def probe_layers(model, layers, x: np.ndarray, rec: Recorder, probe: str) -> None:
    """Each layer's input and output in inference mode, and the model's own output."""
    reset_stateful(layers)
    rec.arrays[f"p/{probe}/x"] = first_input(x)
    if isinstance(x, list):  # several inputs: each one, in the model's order
        for k, a in enumerate(x):
            rec.arrays[f"p/{probe}/xs/{k}"] = a
    if type(model).__name__ == "Sequential":
        h = x
        for i, layer in enumerate(layers):
            rec.arrays[f"p/{probe}/in/{i}"] = as_array(h)
            h = layer(h, training=False)
            rec.arrays[f"p/{probe}/out/{i}"] = to_numpy(h)
    elif getattr(model, "inputs", None) is None:  # a subclassed model: no graph to read
        probe_calls(model, layers, x, rec, probe)
        return
    else:
        import keras

        wanted = []
        for i, layer in enumerate(layers):
            output = layer.output
            if isinstance(output, list | tuple) and output and getattr(layer, "return_state", False):
                output = output[0]  # an RNN's return_state list: its output, then its states
            # several inputs: a merge layer's list, or an RNN's input then its initial_state
            given = list(layer.input) if isinstance(layer.input, list | tuple) else [layer.input]
            if given and not isinstance(layer.input, dict) and not isinstance(output, list | tuple | dict):
                wanted.append((i, given, output))
        probe_model = keras.Model(model.inputs, [t for _, given, out in wanted for t in (*given, out)])
        values = iter(probe_model(x, training=False))
        for i, given, _ in wanted:
            for m in range(len(given)):
                rec.arrays[f"p/{probe}/in/{i}" + (f"/{m}" if m else "")] = to_numpy(next(values))
            rec.arrays[f"p/{probe}/out/{i}"] = to_numpy(next(values))
    reset_stateful(layers)
    rec.arrays[f"p/{probe}/y"] = to_numpy(model(x, training=False))


def probe_calls(model, layers, x: np.ndarray, rec: Recorder, probe: str) -> None:
    """A subclassed model's layers, recorded at their first call while the model runs its call()."""
    seen: dict[int, tuple] = {}
    for i, layer in enumerate(layers):
        def call(*args, _i=i, _call=layer.call, **kwargs):
            out = _call(*args, **kwargs)
            if _i not in seen and args:
                seen[_i] = (args[0], out)
            return out
        object.__setattr__(layer, "call", call)  # past Keras' attribute tracking
    reset_stateful(layers)
    try:
        y = model(x, training=False)
    finally:
        for layer in layers:
            object.__delattr__(layer, "call")
    for i, (inp, out) in seen.items():
        if isinstance(inp, list | tuple | dict) or isinstance(out, list | tuple | dict):
            continue
        rec.arrays[f"p/{probe}/in/{i}"] = as_array(inp)
        rec.arrays[f"p/{probe}/out/{i}"] = to_numpy(out)
    rec.arrays[f"p/{probe}/y"] = to_numpy(y)


def random_input(x, rng: np.random.Generator):
    if isinstance(x, list):
        return [random_input(a, rng) for a in x]
    shape = (min(RANDOM_BATCH, max(len(x), 1)), *x.shape[1:])
    if np.issubdtype(x.dtype, np.integer):
        high = int(x.max()) + 1 if x.size else 2
        return rng.integers(0, max(high, 2), shape).astype(x.dtype)
    return rng.standard_normal(shape).astype(np.float32)


def optimizer_record(model) -> dict:
    optimizer = model.optimizer
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    config = optimizer.get_config()
    try:
        learning_rate = float(to_numpy(optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - a schedule that cannot be read now: config only
        learning_rate = None
    return {"class": type(optimizer).__name__, "config": config, "learning_rate": learning_rate}


def gradient_step(model, backend: str, x, y, sample_weight):
    """One Keras train step done by hand: returns (loss, gradients) and applies the update."""
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=True)
        grads = tape.gradient(loss, variables)
    elif backend == "torch":
        import torch

        for v in variables:
            v.value.grad = None
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            model.optimizer.apply(grads, variables)
        return float(to_numpy(loss)), grads
    else:
        raise NotImplementedError(f"training comparison with the {backend} backend")
    model.optimizer.apply_gradients(zip(grads, variables, strict=True))
    return float(to_numpy(loss)), grads


def take_rows(x, rows):
    """Rows of the inputs: one array, or a list of arrays (a model with several inputs)."""
    return [a[rows] for a in x] if isinstance(x, list) else x[rows]


def first_input(x) -> np.ndarray:
    return x[0] if isinstance(x, list) else x


def batch_rows(step: int, n: int, batch_size: int) -> slice:
    """Rows of step `step` when batches are taken in order, epoch after epoch (Keras unshuffled)."""
    per_epoch = max(math.ceil(n / batch_size), 1)
    k = step % per_epoch
    return slice(k * batch_size, min((k + 1) * batch_size, n))


def train_steps(model, layers, rec: Recorder, data: dict, steps: int, backend: str) -> None:
    import keras

    x, y, sw = data["x"], data["y"], data["sample_weight"]
    batch_size, n = data["batch_size"], len(first_input(x))
    where = {}
    for i, layer in enumerate(layers):
        for j, weight in enumerate(layer.weights):
            where.setdefault(id(weight), (i, j))
    bn = [(i, layer) for i, layer in enumerate(layers) if type(layer).__name__ == "BatchNormalization"]
    bn_bound = {i: 0.0 for i, _ in bn}
    losses = []
    reset_stateful(layers)
    for step in range(steps):
        rows = batch_rows(step, n, batch_size)
        xb, yb = take_rows(x, rows), (None if y is None else y[rows])
        swb = None if sw is None else sw[rows]
        before = {i: to_numpy(layer.moving_variance) for i, layer in bn}
        loss, grads = gradient_step(model, backend, xb, yb, swb)
        losses.append(loss)
        for i, layer in bn:
            # Keras: mv' = m*mv + (1-m)*s2 with s2 the biased batch variance over n values;
            # torch uses s2 * n / (n - 1): the drift this step is (1-m) * s2 / (n - 1).
            shape = rec.arrays[f"p/data/in/{i}"].shape
            axes = [a for a in range(len(shape)) if a != (layer.axis % len(shape))]
            count = len(first_input(xb)) * int(np.prod([shape[a] for a in axes[1:]]))
            moved = to_numpy(layer.moving_variance) - layer.momentum * before[i]
            bn_bound[i] = bn_bound[i] + np.abs(moved) / max(count - 1, 1)
        if step == 0:
            rec.arrays["t/x0"] = np.asarray(first_input(xb))
            if yb is not None:
                rec.arrays["t/y0"] = np.asarray(yb)
            for variable, grad in zip(model.trainable_variables, grads, strict=True):
                if grad is None or id(variable) not in where:
                    continue
                i, j = where[id(variable)]
                rec.arrays[f"g/{i}/{j}"] = to_numpy(keras.ops.convert_to_tensor(grad))
    rec.arrays["t/loss"] = np.asarray(losses, dtype=np.float64)
    for i, layer in enumerate(layers):
        for j, weight in enumerate(layer.weights):
            rec.arrays[f"s/{i}/{j}"] = to_numpy(weight)
    for i, bound in bn_bound.items():
        rec.arrays[f"bnvar/{i}"] = np.asarray(bound)


def fit_data(arguments: dict, rec: Recorder) -> dict:
    """The rows fit trains on, in order: validation_split's last rows removed, floats as float32.
    A model with several inputs gets a list of arrays, one per input."""
    x, y = arguments.get("x"), arguments.get("y")
    batch_size = arguments.get("batch_size")
    sample_weight = arguments.get("sample_weight")
    if isinstance(x, dict):
        raise NotImplementedError("inputs given as a dict")
    several = isinstance(x, list | tuple) and bool(x) and all(hasattr(v, "shape") for v in x)
    if not several and is_batched_source(x):
        xb, yb, swb = first_batch_of(x)
        x, y, sample_weight = as_array(xb), None if yb is None else as_array(yb), swb
        batch_size = len(x)
        rec.note("the training data is a dataset: its first batch is compared")
    arrays = [as_array(v) for v in x] if several else [as_array(x)]
    y = None if y is None else as_array(y)
    batch_size = int(batch_size or 32)
    split = float(arguments.get("validation_split") or 0.0)
    n = len(arrays[0])
    if split and arguments.get("validation_data") is None:
        n = math.floor(n * (1.0 - split))  # Keras validates on the last rows, split before shuffling
    # Keras computes in float32 whatever numpy hands it
    arrays = [a[:n].astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a[:n] for a in arrays]
    y = None if y is None else y[:n]
    if sample_weight is not None:
        sample_weight = as_array(sample_weight)[:n]
    return {"x": arrays if several else arrays[0], "y": y, "sample_weight": sample_weight,
            "batch_size": batch_size, "n_train": n, "validation_split": split,
            "class_weight": arguments.get("class_weight") is not None,
            "shuffle": bool(arguments.get("shuffle", True)), "epochs": arguments.get("epochs")}


def capture(model, arguments: dict, frame, options: argparse.Namespace, rec: Recorder) -> None:
    import keras

    backend = keras.backend.backend()
    rng = np.random.default_rng(SEED)
    data = fit_data(arguments, rec)
    x = data["x"]
    batch = take_rows(x, slice(0, data["batch_size"]))
    if not model.built:
        model(take_rows(batch, slice(0, 1)), training=False)
    if options.load_weights:
        load_weights(model, options.load_weights)
    layers = model_layers(model)
    if not options.no_randomise and not options.load_weights:
        randomise_constants(layers, rng)
    rec.meta["model"] = {
        "variable": variable_name(model, frame),
        "class": type(model).__name__,
        "name": model.name,
        "input_shape": list(first_input(x).shape[1:]),
        "layers": [{
            "name": layer.name,
            "class": type(layer).__name__,
            "activation": activation_name(layer),
            "momentum": getattr(layer, "momentum", None),
            "weights": [{"name": w.name, "path": w.path, "shape": list(w.shape),
                         "trainable": bool(w.trainable)} for w in layer.weights],
        } for layer in layers],
    }
    rec.meta["backend"] = backend
    rec.meta["keras_version"] = keras.__version__
    rec.meta["fit"] = {k: data[k] for k in ("batch_size", "n_train", "validation_split", "shuffle",
                                            "epochs", "class_weight")}
    for i, layer in enumerate(layers):
        for j, weight in enumerate(layer.weights):
            rec.arrays[f"w/{i}/{j}"] = to_numpy(weight)
    probe_layers(model, layers, batch, rec, "data")
    probe_layers(model, layers, random_input(batch, rng), rec, "random")
    steps = options.train_steps
    if steps <= 0:
        return
    if any(getattr(layer, "stateful", False) is True for layer in layers):
        steps = max(steps, STATEFUL_STEPS)  # what one batch leaves to the next shows from the second
    rec.meta["optimizer"] = optimizer_record(model)
    rec.meta["dropout_off"] = switch_off_dropout(model)
    if data["y"] is None:
        rec.meta["train_error"] = "fit was called without targets"
        return
    if data["class_weight"]:
        rec.meta["train_error"] = "class_weight is not compared yet"
        return
    try:
        train_steps(model, layers, rec, data, steps, backend)
    except NotImplementedError as exc:
        rec.meta["train_error"] = f"{exc} is not supported yet"
    rec.meta["train_steps"] = steps


def load_weights(model, path: str) -> None:
    """Trained weights into the script's model: whole saved models or weights-only files."""
    import keras

    if path.endswith(".weights.h5"):
        model.load_weights(path)
        return
    saved = keras.models.load_model(path, compile=False)
    ours = model_layers(model)
    theirs = model_layers(saved)
    if [type(a).__name__ for a in ours] != [type(b).__name__ for b in theirs]:
        raise ValueError(f"{path} holds a different architecture than the script builds: "
                         f"{[type(b).__name__ for b in theirs]}")
    model.set_weights(saved.get_weights())


def install(options: argparse.Namespace, rec: Recorder) -> None:
    import keras

    original = keras.Model.fit
    signature = inspect.signature(original)

    def fit(self, *args, **kwargs):
        frame = sys._getframe(1)
        try:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.update(arguments.pop("kwargs", {}) or {})
            capture(self, arguments, frame, options, rec)
        except NotImplementedError as exc:
            rec.meta.update(status="unsupported", message=f"{exc} are not supported yet")
        except Exception as exc:  # noqa: BLE001 - ours or the model's: report it and leave
            rec.meta.update(status="capture-error", message=f"{type(exc).__name__}: {exc}",
                            traceback=traceback.format_exc())
        write_results(options.io, rec.meta, rec.arrays)
        leave(0)

    keras.Model.fit = fit
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        def unshuffled(self, *args, **kwargs):
            # The translation's shuffling is made the identity too, so both sides train on the
            # same first rows; the order of the rows is not what parity checks.
            return self

        tf.data.Dataset.shuffle = unshuffled


def print_script_traceback(exc: BaseException, script: str) -> None:
    """The script's traceback as Python prints it, without the runner's own frames above it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)


def main(argv: list[str] | None = None) -> None:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    options.io = os.path.abspath(options.io)
    script = os.path.abspath(options.script)
    rec = Recorder()
    try:
        install(options, rec)
    except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
        rec.meta.update(status="capture-error", message=f"could not import Keras: {exc}")
        write_results(options.io, rec.meta, {})
        leave(0)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        rec.meta.update(status="exited", message=f"the script called sys.exit({code!r}) before "
                        "training a model")
    except Exception as exc:  # noqa: BLE001 - the script's own error, shown as it raised it
        print_script_traceback(exc, script)
        rec.meta.update(status="script-error", message=f"{type(exc).__name__}: {exc}")
    else:
        rec.meta.update(status="no-fit", message="the script finished without calling Model.fit")
    write_results(options.io, rec.meta, {})
    leave(0)


if __name__ == "__main__":
    main()
