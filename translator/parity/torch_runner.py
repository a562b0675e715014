"""Runs a PyTorch script in a sandbox until it trains a model, compares from Keras weights, and exits."""

# Executed as `python -m translator.parity.torch_runner SCRIPT IO_DIR [options]`. The script runs
# unchanged and imports nothing of ours; the model is found by ordinary structure only: the first
# outermost nn.Module called in training mode, with gradients on, whose parameters a torch.optim
# optimizer holds. At that first forward the runner waits for the parent's go signal (the Keras
# side's results converted to this model), loads the Keras weights, runs level 1, then lets
# training proceed with batches in order and records level 2 around the optimizer's steps.
# A fastai script is captured the same way, through `Learner.fit`: the Learner that trains is
# recorded, its model is the one captured, and its optimizer (a torch.optim one wrapped by
# OptimWrapper, or fastai's own) is the one whose steps are recorded.

from __future__ import annotations

import argparse
import inspect
import json
import os
import runpy
import sys
import time
import traceback
import weakref

import numpy as np

CHANNELS_FIRST = "channels_first"
POLL_S = 0.01


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torch_runner")
    parser.add_argument("script")
    parser.add_argument("io")
    parser.add_argument("--wait-s", type=float, default=3600.0)
    return parser.parse_args(argv)


def leave(code: int = 0) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def to_first(a: np.ndarray) -> np.ndarray:
    """Keras' channels-last array as a channels-first module takes it (rank 2 has no layout)."""
    return np.moveaxis(a, -1, 1) if a.ndim >= 3 else a


def to_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1) if a.ndim >= 3 else a


def first_tensor(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple) and value:
        return first_tensor(value[0])
    if isinstance(value, dict) and value:
        return first_tensor(next(iter(value.values())))
    return None


def plain(value):
    """A param_group value as JSON: tensors become floats, tuples lists."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)


class Session:
    """Everything the patches share: the captured model, its optimizer and what was recorded."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.io = options.io
        self.optimizers: list = []  # weak references, in creation order
        self.learner = None  # the fastai Learner whose fit is running, if any
        self.model = None
        self.optimizer = None
        self.busy = False
        self.plan: dict = {}
        self.meta: dict = {"status": "ok", "notes": [], "load": {}, "layers": []}
        self.arrays: dict[str, np.ndarray] = {}
        self.loss: float | None = None
        self.losses: list[float] = []
        self.steps = 0
        self.train_steps = 0
        self.pending_loss: float | None = None

    # --- results -------------------------------------------------------------------------------
    def write(self) -> None:
        if self.arrays:
            np.savez(os.path.join(self.io, "torch.npz"), **self.arrays)
        tmp = os.path.join(self.io, "torch.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.meta, f, default=_json_default)
        os.replace(tmp, os.path.join(self.io, "torch.json"))

    def finish(self) -> None:
        self.meta["train"] = {"steps_done": self.steps, "losses": self.losses}
        self.write()
        leave(0)

    def fail_internally(self, exc: BaseException) -> None:
        self.meta.update(status="capture-error", message=f"{type(exc).__name__}: {exc}",
                         traceback=traceback.format_exc())
        self.write()
        leave(0)

    # --- the parent's go signal ----------------------------------------------------------------
    def wait_for_plan(self) -> None:
        go = os.path.join(self.io, "go")
        deadline = time.monotonic() + self.options.wait_s
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                raise TimeoutError("the parent never sent the Keras results")
            time.sleep(POLL_S)
        with open(os.path.join(self.io, "plan.json")) as f:
            self.plan = json.load(f)
        with np.load(os.path.join(self.io, "torch_in.npz")) as npz:
            self.weights = {k: npz[k] for k in npz.files}
        with np.load(os.path.join(self.io, "keras.npz")) as npz:
            self.keras = {k: npz[k] for k in npz.files if k.startswith("p/")}

    # --- finding the model ---------------------------------------------------------------------
    def optimizer_of(self, module):
        ids = {id(p) for p in module.parameters()}
        if not ids:
            return None
        for ref in self.optimizers:
            optimizer = ref()
            if optimizer is None:
                continue
            for group in optimizer.param_groups:
                if any(id(p) in ids for p in group["params"]):
                    return optimizer
        return None

    def forward_pre_hook(self, module, args):
        import torch

        if self.model is not None or self.busy or not module.training:
            return
        if not torch.is_grad_enabled():
            return
        optimizer = self.optimizer_of(module)
        if optimizer is None and self.learner is not None and self.learner.model is module:
            optimizer = self.learner.opt  # fastai's own optimizer, not a torch.optim one
        if optimizer is None:
            return
        self.busy = True
        try:
            self.capture(module, optimizer, args)
        except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
            self.fail_internally(exc)
        self.busy = False
        return

    # --- capture -------------------------------------------------------------------------------
    def capture(self, model, optimizer, args) -> None:
        import torch

        self.model, self.optimizer = model, optimizer
        self.meta["model"] = {"class": type(model).__name__}
        x = first_tensor(args)
        if x is not None:
            self.arrays["t/x0"] = x.detach().cpu().numpy()
        self.wait_for_plan()
        self.train_steps = int(self.plan.get("train_steps", 1))
        if any(torch.nn.parameter.is_lazy(p) for p in model.parameters()):
            with torch.no_grad():
                model(*args)  # lazy modules take their shapes from a first call
        sd = model.state_dict(keep_vars=True)
        self.meta["model"]["state"] = [[k, list(v.shape), str(v.dtype).replace("torch.", ""),
                                        isinstance(v, torch.nn.Parameter)] for k, v in sd.items()]
        attributes_ok = self.attributes_match(model)
        with torch.no_grad():
            if attributes_ok:
                self.load_by_name(sd)
            else:
                self.load_by_order(sd)
        flags = {m: m.training for m in model.modules()}
        model.eval()
        try:
            with torch.no_grad():
                for probe in self.plan.get("probes", []):
                    self.level_one(model, probe, attributes_ok)
        finally:
            for m, flag in flags.items():
                m.training = flag
        reset_stateful(model)  # the first training step starts from zero states, as Keras' does
        if self.plan.get("save_state_dict"):
            torch.save(model.state_dict(), self.plan["save_state_dict"])
            self.meta["saved"] = self.plan["save_state_dict"]
        if self.train_steps <= 0 or self.plan.get("mode") == "weights":
            self.finish()
        self.meta["dropout_off"] = switch_off_dropout(model)
        self.param_keys = {id(p): k for k, p in model.named_parameters()}

    def attributes_match(self, model) -> bool:
        missing = []
        for layer in self.plan.get("layers", []):
            try:
                model.get_submodule(layer["attribute"])
            except AttributeError:
                missing.append(layer["attribute"])
        sd_keys = set(model.state_dict().keys())
        absent = [k for k in self.plan.get("by_name", []) if k not in sd_keys]
        self.meta["load"]["missing_attributes"] = missing
        self.meta["load"]["missing_keys"] = absent
        return bool(self.plan.get("layers")) and not missing and not absent

    def load_by_name(self, sd) -> None:
        import torch

        errors, loaded = [], set()
        for key in self.plan["by_name"]:
            value = self.weights[f"sd/{key}"]
            target = sd[key]
            if tuple(target.shape) != value.shape:
                errors.append([key, (f"shape {tuple(target.shape)} in PyTorch, {value.shape} "
                                     "from Keras after the recipe")])
                continue
            if key in self.plan.get("compare_before", ()):  # what the translation computed itself
                self.arrays[f"before/{key}"] = target.detach().cpu().numpy().copy()
            target.data.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(target.dtype))
            loaded.add(key)
        failed = {key for key, _ in errors}
        self.meta["load"].update(mode="by-name", errors=errors, loaded=sorted(loaded),
                                 unloaded=[k for k, v in sd.items() if k not in loaded
                                           and k not in failed and v.is_floating_point()])

    def load_by_order(self, sd) -> None:
        """Without a matching layer map, Keras weights go to float entries in registration order."""
        import torch

        entries = [(k, v) for k, v in sd.items() if v.is_floating_point()]
        order = self.plan.get("order", [])
        mapping, errors = [], []
        for n, item in enumerate(order):
            if n >= len(entries):
                errors.append([item["keras"], ("PyTorch has fewer parameters and buffers than "
                                               "Keras has weights")])
                break
            key, target = entries[n]
            value = self.weights[f"order/{n}"]
            if tuple(target.shape) != value.shape:
                errors.append([key, (f"shape {tuple(target.shape)} in PyTorch, {value.shape} "
                                     f"from Keras weight {item['keras']}")])
                break
            target.data.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(target.dtype))
            mapping.append([item["keras"], key])
        unloaded = [k for k, _ in entries[len(mapping):]]
        self.meta["load"].update(mode="by-order", errors=errors, mapping=mapping, unloaded=unloaded)

    def level_one(self, model, probe: str, per_layer: bool) -> None:
        import torch

        reset_stateful(model)

        x = self.keras.get(f"p/{probe}/x")
        if x is None:
            return
        inputs: dict[int, np.ndarray] = {}
        handles = []
        layers = self.plan.get("layers", []) if per_layer else []
        for layer in layers:
            module = model.get_submodule(layer["attribute"])

            def grab(mod, args, _i=layer["index"], _layout=layer["layout_in"]):
                t = first_tensor(args)
                if _i not in inputs and t is not None:
                    a = t.detach().cpu().numpy()
                    inputs[_i] = to_last(a) if _layout == CHANNELS_FIRST else a
            handles.append(module.register_forward_pre_hook(grab))
        xs, k = [], 0
        while f"p/{probe}/xs/{k}" in self.keras:  # a model with several inputs: each one
            xs.append(torch.from_numpy(self.keras[f"p/{probe}/xs/{k}"]))
            k += 1
        try:
            out = first_tensor(model(*xs) if xs else model(torch.from_numpy(x)))
        except Exception as exc:  # noqa: BLE001 - the translation's error is a finding
            self.meta.setdefault("errors", {})[f"{probe}/model"] = f"{type(exc).__name__}: {exc}"
            out = None
        finally:
            for h in handles:
                h.remove()
        if out is not None:
            self.arrays[f"p/{probe}/y"] = fold(out, self.plan.get("output_fold")).numpy()
            self.arrays[f"p/{probe}/yraw"] = out.numpy()  # tells a double softmax from other errors
        for i, a in inputs.items():
            self.arrays[f"p/{probe}/inmodel/{i}"] = a
        for layer in layers:
            i = layer["index"]
            a = self.keras.get(f"p/{probe}/in/{i}")
            if a is None:
                continue
            given = [a]  # a merge's other inputs, an RNN's initial states: in Keras' order
            while f"p/{probe}/in/{i}/{len(given)}" in self.keras:
                given.append(self.keras[f"p/{probe}/in/{i}/{len(given)}"])
            if layer["layout_in"] == CHANNELS_FIRST:
                given = [to_first(g) for g in given]
            module = model.get_submodule(layer["attribute"])
            reset_stateful(module)
            try:
                y = first_tensor(module(*(torch.from_numpy(np.ascontiguousarray(g)) for g in given)))
            except Exception as exc:  # noqa: BLE001 - the translation's error is a finding
                self.meta.setdefault("errors", {})[f"{probe}/{i}"] = f"{type(exc).__name__}: {exc}"
                continue
            for key, value in (("out", fold(y, layer.get("folded"))), ("outraw", y)):
                if key == "outraw" and not layer.get("folded"):
                    continue
                out_a = value.detach().cpu().numpy()
                self.arrays[f"p/{probe}/{key}/{i}"] = (
                    to_last(out_a) if layer["layout_out"] == CHANNELS_FIRST else out_a)

    # --- training ------------------------------------------------------------------------------
    def on_backward(self, tensor) -> None:
        if self.model is None or self.pending_loss is not None or tensor.numel() != 1:
            return
        self.pending_loss = float(tensor.detach())

    def step_pre_hook(self, optimizer, args, kwargs) -> None:
        if optimizer is not self.optimizer or self.model is None:
            return
        try:
            if self.pending_loss is not None:
                self.losses.append(self.pending_loss)
            if self.steps == 0:
                self.record_first_step(optimizer)
        except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
            self.fail_internally(exc)

    def step_post_hook(self, optimizer, args, kwargs) -> None:
        if optimizer is not self.optimizer or self.model is None:
            return
        self.steps += 1
        self.pending_loss = None
        if self.steps >= self.train_steps:
            try:
                for key, value in self.model.state_dict().items():
                    if value.is_floating_point():
                        self.arrays[f"s/{key}"] = value.detach().cpu().numpy().copy()
            except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
                self.fail_internally(exc)
            self.finish()

    def record_first_step(self, optimizer) -> None:
        for key, p in self.model.named_parameters():
            if p.grad is not None:
                self.arrays[f"g/{key}"] = p.grad.detach().cpu().numpy().copy()  # the step may change grads in place
        groups = optimizer_groups(optimizer)
        held = {id(p) for g in groups for p in g["params"]}
        self.meta["optimizer"] = {
            "class": type(optimizer).__name__,
            "groups": [{k: plain(v) for k, v in g.items() if k != "params"} for g in groups],
            "missing": [k for k, p in self.model.named_parameters()
                        if p.requires_grad and id(p) not in held],
        }


def reset_stateful(model) -> None:
    """The translation's stateful RNNs back to zero states (see keras_runner.reset_stateful)."""
    for module in model.modules():
        if getattr(module, "stateful", False) is True and callable(getattr(module, "reset_states", None)):
            module.reset_states()


def optimizer_groups(optimizer) -> list[dict]:
    """param_groups of a torch.optim optimizer; fastai's own optimizer has hypers and param_lists,
    named here as torch names them (mom is betas[0] or momentum, sqr_mom betas[1], wd weight_decay)."""
    import torch

    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer.param_groups
    groups = []
    for params, hyper in zip(optimizer.param_lists, optimizer.hypers, strict=False):
        group = {"params": list(params)}
        for k, v in hyper.items():
            group[{"wd": "weight_decay", "lr": "lr", "eps": "eps"}.get(k, k)] = v
        if "sqr_mom" in group:
            group["betas"] = (group.pop("mom", 0.9), group.pop("sqr_mom"))
        elif "mom" in group:
            group["momentum"] = group.pop("mom")
        groups.append(group)
    return groups


def learner_info(learn, n_epoch, lr) -> dict:
    """What parity reports about a fastai Learner: loss, optimizer factory, metrics, fit arguments."""
    def name(value) -> str:
        return getattr(value, "__name__", None) or getattr(getattr(value, "func", None), "__name__", None) \
            or type(value).__name__
    return {"class": type(learn).__name__, "loss_func": name(learn.loss_func),
            "opt_func": name(learn.opt_func), "metrics": [getattr(m, "name", name(m)) for m in learn.metrics],
            "n_epoch": n_epoch, "lr": lr}


def patch_fastai(session: Session, learner_module) -> None:
    """Wraps `Learner.fit` so the Learner that trains is known, and its optimizer's steps are
    recorded through fastai's own events when that optimizer is not a torch.optim one."""
    from fastai.callback.core import Callback

    class StepRecorder(Callback):
        order = 99

        # a torch.optim optimizer (OptimWrapper's) reports its own steps; these calls count only
        # when the captured optimizer is fastai's own
        def before_step(self):
            session.step_pre_hook(self.learn.opt, (), {})

        def after_step(self):
            session.step_post_hook(self.learn.opt, (), {})

    original_fit = learner_module.Learner.fit
    signature = inspect.signature(original_fit)

    def fit(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        if session.learner is None and session.model is None:
            session.learner = self
            session.meta["learner"] = learner_info(self, bound.arguments.get("n_epoch"),
                                                   bound.arguments.get("lr"))
        if session.learner is self:
            cbs = bound.arguments.get("cbs")
            cbs = list(cbs) if isinstance(cbs, list | tuple) else [cbs] if cbs is not None else []
            bound.arguments["cbs"] = [*cbs, StepRecorder()]
        return original_fit(*bound.args, **bound.kwargs)

    learner_module.Learner.fit = fit


class FastaiHook:
    """A meta-path finder that patches fastai.learner the moment a script imports it, so torch
    scripts never pay fastai's import."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find_spec(self, name, path=None, target=None):
        if name != "fastai.learner":
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        loader, session = spec.loader, self.session

        class Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    patch_fastai(session, module)
                except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
                    session.meta["notes"].append(f"could not watch fastai's Learner: {exc}")

        spec.loader = Loader()
        return spec


def fold(t, activation: str | None):
    """Applies the activation the translation folded into its loss, as predict would."""
    import torch

    if activation == "softmax":
        return torch.softmax(t, dim=-1)
    if activation == "sigmoid":
        return torch.sigmoid(t)
    return t


def switch_off_dropout(model) -> list[str]:
    """Dropout masks cannot match across frameworks, so both sides train with p = 0."""
    import torch

    changed = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p:
            m.p = 0.0
            changed.append(name)
        elif type(m).__name__ == "GaussianNoise" and getattr(m, "stddev", 0):
            m.stddev = 0.0  # the translation's Keras GaussianNoise (Keras' is switched off too)
            changed.append(name)
    functional = torch.nn.functional
    for fname in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
                  "feature_alpha_dropout"):
        original = getattr(functional, fname, None)
        if original is None:
            continue

        def no_dropout(input, p=0.5, training=True, inplace=False, _original=original):
            return _original(input, 0.0, training, inplace)
        setattr(functional, fname, no_dropout)
    return changed


def install(session: Session) -> None:
    import torch
    import torch.nn.modules.module as module_mod
    import torch.optim.optimizer as optimizer_mod

    original_init = torch.optim.Optimizer.__init__

    def optimizer_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        session.optimizers.append(weakref.ref(self))

    torch.optim.Optimizer.__init__ = optimizer_init
    sys.meta_path.insert(0, FastaiHook(session))

    module_mod.register_module_forward_pre_hook(session.forward_pre_hook)

    def randperm(n, *args, **kwargs):
        # Keras' first batches are rows 0..bs-1 in order; any shuffle torch draws becomes arange.
        return torch.arange(n, dtype=kwargs.get("dtype") or torch.int64,
                            device=kwargs.get("device"))

    torch.randperm = randperm

    original_backward = torch.Tensor.backward

    def backward(self, *args, **kwargs):
        session.on_backward(self)
        return original_backward(self, *args, **kwargs)

    torch.Tensor.backward = backward
    optimizer_mod.register_optimizer_step_pre_hook(session.step_pre_hook)
    optimizer_mod.register_optimizer_step_post_hook(session.step_post_hook)


def print_script_traceback(exc: BaseException, script: str) -> None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb or exc.__traceback__)


def main(argv: list[str] | None = None) -> None:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    options.io = os.path.abspath(options.io)
    script = os.path.abspath(options.script)
    session = Session(options)
    try:
        install(session)
    except Exception as exc:  # noqa: BLE001 - reported in the results, never raised into the script
        session.meta.update(status="capture-error", message=f"could not import torch: {exc}")
        session.write()
        leave(0)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if session.model is None:
            session.meta.update(status="exited", message=f"the script called sys.exit({exc.code!r})"
                                " before training a model")
    except Exception as exc:  # noqa: BLE001 - the script's own error, shown as it raised it
        print_script_traceback(exc, script)
        session.meta.update(status="script-error", message=f"{type(exc).__name__}: {exc}")
    else:
        if session.model is None:
            session.meta.update(status="no-training", message="the script finished without "
                                "training an nn.Module through a torch.optim optimizer or a fastai Learner")
    if session.model is not None:
        session.finish()
    session.write()
    leave(0)


if __name__ == "__main__":
    main()
