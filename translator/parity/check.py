"""Runs both sides of a parity check in sandboxes and turns their records into a located verdict."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ir import ModelInfo
from . import sandbox
from .compare import (
    FAILED,
    OK,
    UNCHECKED,
    Check,
    LayerRow,
    Tolerance,
    TrainFigure,
    TrainResult,
    Verdict,
    check_of,
    compare_arrays,
    compare_scalars,
    decide,
    fmt,
    is_divergent,
)
from .recipes import (
    Plan,
    WeightLink,
    class_recipes,
    float32_equal,
    load_parity_rules,
    lookup,
    plan_by_layer_map,
    plan_by_order,
    select_model,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
PROBES = (("data", "training batch"), ("random", "random batch"))
TAIL_LINES = 25


@dataclass(frozen=True)
class ParityOptions:
    atol: float = 1e-5
    rtol: float = 1e-4
    train_steps: int = 1
    timeout_s: float = sandbox.DEFAULT_TIMEOUT_S
    memory_mb: int = sandbox.DEFAULT_MEMORY_MB
    keras_backend: str = "tensorflow"

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(self.atol, self.rtol)

    @property
    def limits(self) -> sandbox.Limits:
        return sandbox.Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


@dataclass(frozen=True)
class SideRun:
    """How one side's subprocess went, with the end of its output for a person to read."""

    label: str  # "Keras" or "PyTorch"
    status: str  # the runner's status: ok, script-error, no-fit, timeout...
    message: str
    output_tail: str
    duration_s: float


@dataclass(frozen=True)
class ParityResult:
    verdict: Verdict
    rows: tuple[LayerRow, ...] = ()
    output: LayerRow | None = None
    train: TrainResult | None = None
    keras_run: SideRun | None = None
    torch_run: SideRun | None = None
    model: str = ""
    options: ParityOptions = field(default_factory=ParityOptions)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.verdict.status, 2)


def error_result(message: str, options: ParityOptions, notes: Sequence[str] = (),
                 **fields) -> ParityResult:
    return ParityResult(Verdict("error", None, None, message, tuple(notes)), options=options,
                        **fields)


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


def _side(label: str, run: sandbox.RunResult, meta: dict | None) -> SideRun:
    output = _tail(run.stderr) or _tail(run.stdout)
    if run.timed_out or meta is None:
        status = "timeout" if run.timed_out else "crashed"
        message = run.error or "ended without writing results"
        if not run.timed_out and run.returncode == 0:
            message = "the script ended (os._exit?) before training a model"
        elif not run.timed_out and run.error and run.error.startswith("exited"):
            message = f"the script ended before training a model ({run.error})"
        return SideRun(label, status, message, output, run.duration_s)
    return SideRun(label, meta.get("status", "ok"), meta.get("message", ""), output, run.duration_s)


def child_environment(options: ParityOptions) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": str(PROJECT_ROOT) + (os.pathsep + path if path else ""),
            "KERAS_BACKEND": options.keras_backend}


def run_parity(source: Path, translated_code: str, models: Sequence[ModelInfo],
               options: ParityOptions = ParityOptions(), translated_path: Path | None = None,
               mode: str = "parity", load_weights: Path | None = None,
               save_state_dict: Path | None = None, starter=None) -> ParityResult:
    """Runs the Keras script and its translation side by side and compares them.

    `translated_path` is a hand-edited translation (its folder is copied for the torch side);
    otherwise `translated_code` is written beside a copy of the source. `mode="weights"` loads
    `load_weights` into the Keras model, compares the forward pass only and saves the converted
    state dict to `save_state_dict`. `starter` replaces `sandbox.start` (warm workers: batch.py).
    """
    start = starter or sandbox.start
    started = time.monotonic()
    source = Path(source).resolve()
    env = child_environment(options)
    with sandbox.scratch_dir("keras2torch-parity-") as root:
        io = root / "io"
        io.mkdir()
        keras_dir = sandbox.scratch_copy(source.parent, root / "keras")
        if translated_path is not None:
            translated_path = Path(translated_path).resolve()
            torch_dir = sandbox.scratch_copy(translated_path.parent, root / "torch")
            torch_script = torch_dir / translated_path.name
        else:
            torch_dir = sandbox.scratch_copy(source.parent, root / "torch")
            torch_script = torch_dir / f"{source.stem}__keras2torch.py"
            torch_script.write_text(translated_code)
        keras_args = [sys.executable, "-m", "translator.parity.keras_runner",
                      str(keras_dir / source.name), str(io),
                      "--train-steps", str(0 if mode == "weights" else options.train_steps)]
        if load_weights is not None:
            keras_args += ["--load-weights", str(Path(load_weights).resolve())]
        keras = start(keras_args, keras_dir, options.limits, env)
        # the torch side waits for the Keras side at most as long as that may run, so it cannot
        # linger if this process dies
        torch = start([sys.executable, "-m", "translator.parity.torch_runner",
                               str(torch_script), str(io), "--wait-s", str(options.timeout_s + 30)],
                              torch_dir, options.limits, env)
        try:
            keras_run = keras.wait()
            keras_meta = _read_json(io / "keras.json")
            keras_side = _side("Keras", keras_run, keras_meta)
            if keras_side.status != "ok":
                return error_result(f"the Keras script could not be checked: {keras_side.message}",
                                    options, keras_run=keras_side, seconds=time.monotonic() - started)
            keras_arrays = _read_npz(io / "keras.npz")
            info, notes = _choose_model(models, keras_meta)
            plan = (plan_by_layer_map(info, keras_meta["model"]["layers"]) if info is not None
                    else plan_by_order(keras_meta["model"]["layers"], class_recipes()))
            _write_torch_plan(io, plan, info, keras_meta, keras_arrays, mode, options,
                              save_state_dict)
            (io / "go").touch()
            torch_run = torch.wait(max(torch.started, time.monotonic()) + options.timeout_s)
        finally:
            for side in (keras, torch):  # nothing may outlive the check, whatever happened
                side.kill()
                side.wait()
        torch_meta = _read_json(io / "torch.json")
        torch_side = _side("PyTorch", torch_run, torch_meta)
        torch_arrays = _read_npz(io / "torch.npz")
        return _judge(keras_meta, keras_arrays, keras_side, torch_meta, torch_arrays, torch_side,
                      plan, info, notes, models, options, mode, time.monotonic() - started)


def _in_keras_order(info: ModelInfo, keras_layers: Sequence[dict]) -> ModelInfo:
    """The layer map in the order Keras lists its layers: a functional graph's translation emits
    them in its own topological order, which may differ where branches run side by side."""
    by_name = {lm.keras_name: lm for lm in info.layers}
    names = [kl["name"] for kl in keras_layers]
    if len(by_name) != len(info.layers) or sorted(names) != sorted(by_name):
        return info
    return dataclasses.replace(info, layers=tuple(by_name[n] for n in names))


def _choose_model(models: Sequence[ModelInfo], keras_meta: dict) -> tuple[ModelInfo | None, list[str]]:
    notes = [*keras_meta.get("notes", [])]
    info, why = select_model(models, keras_meta["model"])
    if why:
        notes.append(why)
    if info is not None:
        info = _in_keras_order(info, keras_meta["model"]["layers"])
    trained = keras_meta["model"].get("variable") or keras_meta["model"]["name"]
    if len(models) > 1:
        names = ", ".join(m.variable for m in models)
        notes.append(f"the script builds {len(models)} models ({names}); the first one trained, "
                     f"`{trained}`, was compared")
    return info, notes


def _write_torch_plan(io: Path, plan: Plan, info: ModelInfo | None, keras_meta: dict,
                      keras_arrays: dict[str, np.ndarray], mode: str, options: ParityOptions,
                      save_state_dict: Path | None) -> None:
    arrays: dict[str, np.ndarray] = {}
    order = []
    for n, link in enumerate(plan.links):
        value = link.to_torch(keras_arrays[f"w/{link.layer}/{link.weight}"])
        if plan.by_name:
            arrays[f"sd/{link.torch_key}"] = value
        arrays[f"order/{n}"] = value
        order.append({"keras": link.keras_label})
    layers = []
    fold = None
    if info is not None:
        for i, lm in enumerate(info.layers):
            layers.append({"index": i, "keras_name": lm.keras_name, "attribute": lm.attribute,
                           "layout_in": lm.layout_in, "layout_out": lm.layout_out,
                           "folded": lm.folded})
        fold = next((lm.folded for lm in reversed(info.layers) if lm.folded), None)
    plan_json = {
        "mode": mode,
        "layers": layers if plan.by_name else [],
        "by_name": [link.torch_key for link in plan.links] if plan.by_name else [],
        "compare_before": [link.torch_key for link in plan.links if plan.by_name and link.computed],
        "order": order,
        "output_fold": fold,
        "probes": [p for p, _ in PROBES],
        "train_steps": 0 if mode == "weights" else keras_meta.get("train_steps", options.train_steps),
        "save_state_dict": str(save_state_dict) if save_state_dict else "",
    }
    np.savez(io / "torch_in.npz", **arrays)
    (io / "plan.json").write_text(json.dumps(plan_json))


# --- judging ------------------------------------------------------------------------------------

def _judge(keras_meta, keras_arrays, keras_side, torch_meta, torch_arrays, torch_side, plan: Plan,
           info: ModelInfo | None, notes: list[str], models, options: ParityOptions, mode: str,
           seconds: float) -> ParityResult:
    tol = options.tolerance
    keras_model = keras_meta["model"]
    description = _describe_model(keras_model, info, torch_meta)
    common = {"keras_run": keras_side, "torch_run": torch_side, "model": description,
              "options": options, "seconds": seconds}
    captured = torch_meta is not None and "load" in torch_meta and torch_meta["load"]
    sides = {k: v for k, v in common.items() if k != "options"}  # error_result takes options
    if not captured:
        what = torch_side.message or torch_side.status
        return error_result(f"the PyTorch script could not be checked: {what}", options, notes,
                            **sides)
    if torch_meta.get("status") == "capture-error":
        return error_result(f"parity could not capture the PyTorch model: {torch_meta['message']}",
                            options, notes, **sides)
    load = torch_meta["load"]
    links = _resolve_links(plan, load)
    by_name = load.get("mode") == "by-name"
    if not by_name:
        reason = _fallback_reason(info, load)
        notes.append(f"{reason}: weights were copied by parameter order and only the model output "
                     "and training were compared")
    rows = _layer_rows(keras_model, keras_arrays, torch_meta, torch_arrays, plan, links, info,
                       by_name, tol, notes)
    folded = next((lm.folded for lm in reversed(info.layers) if lm.folded), None) if info else None
    output = _output_row(keras_model, keras_arrays, torch_meta, torch_arrays, folded, tol)
    train = None
    if mode != "weights" and options.train_steps > 0:
        train = _train_result(keras_meta, keras_arrays, torch_meta, torch_arrays, links, tol,
                              keras_meta.get("train_steps", options.train_steps))
    verdict = decide(rows, train, output, notes)
    failed_after_capture = torch_meta.get("status") in ("script-error", "exited") or (
        torch_side.status in ("timeout", "crashed"))
    forward_diverged = verdict.status == "fail" and (
        verdict.first_divergence is not None or is_divergent(output.status))
    if failed_after_capture and not forward_diverged:
        # the forward pass matched; the script then failed, so training could not be compared
        verdict = Verdict("error", None, verdict.max_abs_diff,
                          f"the PyTorch script failed during training: {torch_side.message}",
                          verdict.notes)
    return ParityResult(verdict, tuple(rows), output, train, **common)


def _describe_model(keras_model: dict, info: ModelInfo | None, torch_meta: dict | None) -> str:
    variable = keras_model.get("variable") or keras_model["name"]
    torch_class = (torch_meta or {}).get("model", {}).get("class", "?")
    learner = (torch_meta or {}).get("learner")
    if learner:  # trained by a fastai Learner: say so, with its loss
        torch_class += f" (fastai {learner['class']}, loss_func {learner['loss_func']})"
    return f"{variable} ({keras_model['class']}, {len(keras_model['layers'])} layers) -> {torch_class}"


def _fallback_reason(info: ModelInfo | None, load: dict) -> str:
    if info is None:
        return "no layer map matches the trained Keras model"
    missing = load.get("missing_attributes") or load.get("missing_keys") or []
    if missing:
        return ("the translation's modules do not match the layer map (missing "
                + ", ".join(f"`{m}`" for m in missing[:5]) + ")")
    return "the translation's modules do not match the layer map"


def _resolve_links(plan: Plan, load: dict) -> list[WeightLink]:
    """Links with their torch keys: from the plan, or from the order the torch side loaded them."""
    if plan.by_name and load.get("mode") == "by-name":
        return list(plan.links)
    mapping = {keras: key for keras, key in load.get("mapping", [])}
    return [WeightLink(link.layer, link.weight, link.keras_name, link.keras_label,
                       mapping.get(link.keras_label, ""), link.permute, link.steps)
            for link in plan.links]


def _owner(key: str, layer_attrs: list[tuple[int, str]]) -> int | None:
    """The Keras layer whose attribute holds a state-dict key (the longest matching prefix)."""
    matches = [(len(attr), i) for i, attr in layer_attrs
               if key == attr or key.startswith(attr + ".")]
    return max(matches)[1] if matches else None


def _layer_rows(keras_model, keras_arrays, torch_meta, torch_arrays, plan: Plan,
                links: list[WeightLink], info: ModelInfo | None, by_name: bool, tol: Tolerance,
                notes: list[str]) -> list[LayerRow]:
    load = torch_meta["load"]
    errors = torch_meta.get("errors", {})
    weight_problems: dict[int | None, list[str]] = {}
    for i, message in plan.problems:
        weight_problems.setdefault(i, []).append(message)
    attrs = [(i, lm.attribute) for i, lm in enumerate(info.layers)] if (info and by_name) else []
    key_layer = {link.torch_key: link.layer for link in links if link.torch_key}
    for key, message in load.get("errors", []):
        layer = key_layer.get(key, _owner(key, attrs))
        weight_problems.setdefault(layer, []).append(f"`{key}`: {message}")
    for key in load.get("unloaded", []):
        if key.endswith("num_batches_tracked"):
            continue
        layer = _owner(key, attrs) if by_name else None
        weight_problems.setdefault(layer, []).append(
            f"PyTorch `{key}` receives no Keras weight (it keeps PyTorch's own initial values)")
    rows = []
    for i, kl in enumerate(keras_model["layers"]):
        lm = info.layers[i] if (info and by_name) else None
        checks: list[Check] = []
        if weight_problems.get(i):
            checks.append(Check("weights", FAILED, message="; ".join(weight_problems[i])))
        if not by_name:
            checks.append(Check("layer", UNCHECKED, message="not compared one by one"))
            modules = {link.torch_key.rpartition(".")[0] for link in links
                       if link.layer == i and link.torch_key}
            path = modules.pop() if len(modules) == 1 else "?"
            rows.append(LayerRow(kl["name"], kl["class"], path, tuple(checks)))
            continue
        called = False
        probed = False
        for probe, label in PROBES:
            k_out = keras_arrays.get(f"p/{probe}/out/{i}")
            probed = probed or k_out is not None
            if k_out is None:
                checks.append(Check(f"output on the {label}", UNCHECKED,
                                    message="the Keras layer takes several inputs"))
                continue
            error = errors.get(f"{probe}/{i}")
            if error:
                checks.append(Check(f"output on the {label}", FAILED,
                                    message=f"the PyTorch module raised {error}"))
            else:
                checks.append(_output_check(
                    f"output on the {label}", k_out, torch_arrays.get(f"p/{probe}/out/{i}"),
                    torch_arrays.get(f"p/{probe}/outraw/{i}"), lm.folded, tol))
            t_in = torch_arrays.get(f"p/{probe}/inmodel/{i}")
            if t_in is not None:
                called = True
                diff = compare_arrays(keras_arrays.get(f"p/{probe}/in/{i}"), t_in, tol)
                checks.append(check_of(f"its input inside forward() on the {label}", diff))
        for link in links:
            if link.layer == i and link.computed and link.torch_key:  # adapted: both sides compute it
                theirs = link.to_torch(keras_arrays[f"w/{link.layer}/{link.weight}"])
                ours = torch_arrays.get(f"before/{link.torch_key}")
                what = f"{link.keras_name} as the translation computes it"
                checks.append(Check(what, FAILED, message="not computed before training") if ours is None
                              else check_of(what, compare_arrays(theirs, ours, tol)))
        if probed and not called and not errors.get("data/model"):
            notes.append(f"`{lm.attribute}` ({kl['name']}) is never called by the model's forward()")
        rows.append(LayerRow(kl["name"], kl["class"], lm.attribute, tuple(checks)))
    unowned = weight_problems.get(None)
    if unowned:
        rows.append(LayerRow("(weights)", "", "", (Check("weights", FAILED,
                                                         message="; ".join(unowned)),)))
    return rows


def _output_check(what: str, keras: np.ndarray | None, torch: np.ndarray | None,
                  raw: np.ndarray | None, folded: str | None, tol: Tolerance) -> Check:
    """An output comparison that recognises an activation applied twice (a double softmax)."""
    diff = compare_arrays(keras, torch, tol)
    if diff.ok or not folded or raw is None or not compare_arrays(keras, raw, tol).ok:
        return check_of(what, diff)
    return Check(what, diff.status, diff, message=(
        f"{diff.describe()}. Without the folded {folded} PyTorch matches Keras: the module already "
        f"applies {folded} and the translation applies it again through the loss (a double "
        f"{folded})"))


def _output_row(keras_model, keras_arrays, torch_meta, torch_arrays, folded: str | None,
                tol: Tolerance) -> LayerRow:
    errors = torch_meta.get("errors", {})
    checks = []
    for probe, label in PROBES:
        if errors.get(f"{probe}/model"):
            checks.append(Check(f"model output on the {label}", FAILED,
                                message=f"the PyTorch model raised {errors[f'{probe}/model']}"))
            continue
        checks.append(_output_check(f"model output on the {label}",
                                    keras_arrays.get(f"p/{probe}/y"), torch_arrays.get(f"p/{probe}/y"),
                                    torch_arrays.get(f"p/{probe}/yraw"), folded, tol))
    return LayerRow("(model output)", keras_model["class"], "model(x)", tuple(checks))


# --- level 2 ------------------------------------------------------------------------------------

def _train_result(keras_meta, keras_arrays, torch_meta, torch_arrays, links: list[WeightLink],
                  tol: Tolerance, steps: int) -> TrainResult:
    if keras_meta.get("train_error"):
        return TrainResult(steps, message=f"the Keras side: {keras_meta['train_error']}")
    if "t/x0" not in torch_arrays:
        return TrainResult(steps, message="the PyTorch model's first training input was not a tensor")
    figures: list[TrainFigure] = [_batch_figure(keras_meta, keras_arrays, torch_arrays)]
    torch_train = torch_meta.get("train", {})
    torch_losses = torch_train.get("losses", [])
    keras_losses = keras_arrays.get("t/loss", np.zeros(0))
    if not torch_losses:
        if torch_meta.get("status") != "ok":
            return TrainResult(steps, tuple(figures), message=f"the PyTorch script failed before "
                               f"its first optimizer step: {torch_meta.get('message')}")
        figures.append(TrainFigure("loss", "loss", FAILED, message="the PyTorch script took no "
                                   "optimizer step after calling backward() on a loss"))
        return TrainResult(steps, tuple(figures))
    diff = compare_scalars(float(keras_losses[0]), torch_losses[0], tol)
    figures.append(TrainFigure("loss", "loss", diff.status, fmt(float(keras_losses[0])),
                               fmt(torch_losses[0]), diff))
    keras_layers = keras_meta["model"]["layers"]
    for link in links:
        w = keras_layers[link.layer]["weights"][link.weight]
        if not w["trainable"]:
            continue
        name = f"gradient {link.keras_label}"
        if _bias_before_batch_norm(keras_meta, link):
            figures.append(TrainFigure(name, "gradient", UNCHECKED, message=(
                "the bias feeds a BatchNormalization, which subtracts each batch's mean in training: "
                "its gradient is zero but for float32 rounding, which differs between the frameworks")))
            continue
        k = keras_arrays.get(f"g/{link.layer}/{link.weight}")
        t = torch_arrays.get(f"g/{link.torch_key}") if link.torch_key else None
        if t is None:
            figures.append(TrainFigure(name, "gradient", FAILED, message=(
                f"PyTorch `{link.torch_key}` has no gradient" if link.torch_key else
                "no PyTorch parameter received this weight")))
            continue
        diff = compare_arrays(None if k is None else link.to_torch(k), t, tol)
        figures.append(TrainFigure(name, "gradient", diff.status, diff=diff))
    figures.extend(_optimizer_figures(keras_meta, torch_meta))
    done = torch_train.get("steps_done", 0)
    if done < steps:
        figures.append(TrainFigure("steps", "step", UNCHECKED, message=(
            f"the PyTorch script took {done} optimizer step(s), {steps} were asked for: "
            "updated weights not compared")))
        return TrainResult(steps, tuple(figures))
    figures.extend(_update_figures(keras_meta, keras_arrays, torch_arrays, links, tol, steps))
    return TrainResult(steps, tuple(figures))


def _batch_figure(keras_meta, keras_arrays, torch_arrays) -> TrainFigure:
    k, t = keras_arrays.get("t/x0"), torch_arrays.get("t/x0")
    fit = keras_meta.get("fit", {})
    diff = compare_arrays(k, t, Tolerance(0.0, 0.0))
    if diff.status == OK:
        return TrainFigure("first training batch", "batch", OK, f"{k.shape}", f"{t.shape}", diff)
    rows = f"rows 0-{len(k) - 1} of the {fit.get('n_train')} training rows"
    if fit.get("validation_split"):
        rows += (f" (validation_split {fit['validation_split']} keeps the last rows for "
                 "validation)")
    hint = ("a different batch size" if diff.keras_shape and diff.torch_shape and
            diff.keras_shape[1:] == diff.torch_shape[1:] else "a different input layout")
    if diff.keras_shape == diff.torch_shape:
        hint = "different rows: check validation_split (Keras validates on the last rows) and " \
               "that shuffling goes through torch.randperm"
    return TrainFigure("first training batch", "batch", FAILED, f"{k.shape}",
                       f"{None if t is None else t.shape}", diff,
                       message=f"the first training batch differs ({hint}): Keras trains first on "
                               f"{rows}; {diff.describe()}")


def _optimizer_figures(keras_meta, torch_meta) -> list[TrainFigure]:
    rules = load_parity_rules()
    keras_opt = keras_meta.get("optimizer") or {}
    torch_opt = torch_meta.get("optimizer")
    figures: list[TrainFigure] = []
    if torch_opt is None:
        return [TrainFigure("optimizer", "hyperparameter", FAILED,
                            message="the PyTorch optimizer took no step")]
    rule = rules.optimizers.get(keras_opt.get("class", ""))
    if rule is None:
        return [TrainFigure("optimizer", "hyperparameter", UNCHECKED, keras_opt.get("class", "?"),
                            torch_opt["class"], message=f"rules/parity.toml has no table for Keras "
                            f"{keras_opt.get('class')}: hyper-parameters not compared")]
    status = OK if torch_opt["class"] in rule.torch else FAILED
    figures.append(TrainFigure("optimizer class", "hyperparameter", status, rule.keras,
                               torch_opt["class"], message="" if status == OK else
                               f"Keras {rule.keras} becomes one of torch.optim "
                               f"{', '.join(rule.torch)}, not {torch_opt['class']}"))
    if torch_opt.get("missing"):
        figures.append(TrainFigure("optimizer parameters", "hyperparameter", FAILED, message=(
            "parameters the optimizer does not update: " + ", ".join(torch_opt["missing"][:5]))))
    config = dict(keras_opt.get("config") or {})
    if keras_opt.get("learning_rate") is not None:
        config["learning_rate"] = keras_opt["learning_rate"]
    none = dict(rule.none)
    for group_no, group in enumerate(torch_opt["groups"]):
        suffix = f" (param group {group_no})" if len(torch_opt["groups"]) > 1 else ""
        inert = {key for key, needs in rule.inert_without if not config.get(needs)}
        for keras_key, torch_path in rule.hyper:
            k = config.get(keras_key)
            if k is None:
                k = none.get(keras_key)
            t = lookup(group, torch_path)
            same = float32_equal(k, t) or (keras_key in inert and not t)
            figures.append(TrainFigure(f"{torch_path} (Keras {keras_key}){suffix}", "hyperparameter",
                                       OK if same else FAILED, repr(k), repr(t)))
        for torch_key, expected in rule.expect:
            t = group.get(torch_key)
            same = float32_equal(expected, t)
            figures.append(TrainFigure(f"{torch_key}{suffix}", "hyperparameter",
                                       OK if same else FAILED, f"(needs {expected!r})", repr(t)))
        decay = config.get("weight_decay")
        if decay and torch_opt["class"] not in rules.decoupled_classes and not group.get(
                rules.decoupled_flag):
            figures.append(TrainFigure(f"weight decay form{suffix}", "hyperparameter", FAILED,
                                       "decoupled", "added to the gradient", message=(
                                           f"Keras decays weights decoupled (w -= lr * wd * w); "
                                           f"torch.optim.{torch_opt['class']} adds wd * w to the "
                                           f"gradient unless {rules.decoupled_flag}=True")))
    for key, inactive in rules.keras_only.items():
        groups = torch_opt["groups"]
        if key in config and groups and all(key in g for g in groups):  # with_keras_options keeps them
            same = all(float32_equal(config[key], g[key]) or (repr(config[key]) == inactive and not g[key])
                       for g in groups)
            figures.append(TrainFigure(key, "hyperparameter", OK if same else FAILED,
                                       repr(config[key]), repr(groups[0][key])))
        elif key in config and repr(config[key]) != inactive:
            figures.append(TrainFigure(key, "hyperparameter", UNCHECKED, repr(config[key]), "-",
                                       message=f"Keras {key}={config[key]!r} has no torch.optim "
                                               "counterpart; only the updated weights show it"))
    return figures


def _bias_before_batch_norm(keras_meta: dict, link: WeightLink) -> bool:
    """A Sequential model's bias added right before a BatchNormalization (no activation between)."""
    layers = keras_meta["model"]["layers"]
    return (keras_meta["model"].get("class") == "Sequential" and link.keras_name == "bias"
            and link.layer + 1 < len(layers) and layers[link.layer + 1]["class"] == "BatchNormalization"
            and layers[link.layer].get("activation") in (None, "linear"))


def _update_figures(keras_meta, keras_arrays, torch_arrays, links: list[WeightLink],
                    tol: Tolerance, steps: int) -> list[TrainFigure]:
    rules = load_parity_rules()
    keras_opt = keras_meta.get("optimizer") or {}
    rule = rules.optimizers.get(keras_opt.get("class", ""))
    learning_rate = keras_opt.get("learning_rate") or 0.0
    step_bound = rule.step_bound(keras_opt.get("config") or {}, learning_rate) if rule else 0.0
    keras_layers = keras_meta["model"]["layers"]
    figures = []
    plural = "s" if steps != 1 else ""
    for link in links:
        w = keras_layers[link.layer]["weights"][link.weight]
        name = f"{link.keras_label} after {steps} step{plural}"
        k = keras_arrays.get(f"s/{link.layer}/{link.weight}")
        t = torch_arrays.get(f"s/{link.torch_key}") if link.torch_key else None
        extra: np.ndarray | float = 0.0
        bound = tol.describe()
        if link.keras_name in rules.weight_bounds and f"bnvar/{link.layer}" in keras_arrays:
            kind, reason = rules.weight_bounds[link.keras_name]
            extra = link.to_torch(np.asarray(keras_arrays[f"bnvar/{link.layer}"]))
            bound += f" + {kind} drift ({reason})"
        elif w["trainable"] and step_bound and rule is not None:
            extra = steps * step_bound
            bound += f" + {fmt(extra)} ({rule.update} per step: {rule.reason})"
        gk = keras_arrays.get(f"g/{link.layer}/{link.weight}")
        gt = torch_arrays.get(f"g/{link.torch_key}") if link.torch_key else None
        if w["trainable"] and rule is not None and rule.normalized and steps == 1 and gk is not None \
                and gt is not None:
            noise = rule.gradient_noise_bound(keras_opt.get("config") or {}, learning_rate, link.to_torch(gk), gt)
            if np.any(noise):
                extra = extra + noise
                bound += " + the gradients' float32 difference through the optimizer's normalisation"
        if t is None:
            figures.append(TrainFigure(name, "update", FAILED, message="no PyTorch value"))
            continue
        diff = compare_arrays(None if k is None else link.to_torch(k), t, tol, extra)
        figures.append(TrainFigure(name, "update", diff.status, diff=diff, bound=bound))
    return figures
