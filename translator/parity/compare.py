"""Numpy-only comparison of Keras and PyTorch results: array diffs, per-layer rows and the verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-4

# Statuses, from best to worst. "inaccurate": both sides produced an array of the same shape but
# some element is beyond tolerance; "failed": nothing comparable (shape differs, a value is
# missing, an error). "unchecked": could not be compared, with the reason stated; it never passes
# silently (the verdict names it), but it does not by itself make the verdict a failure.
OK, UNCHECKED, INACCURATE, FAILED = "ok", "unchecked", "inaccurate", "failed"
_RANK = {OK: 0, UNCHECKED: 1, INACCURATE: 2, FAILED: 3}


def worst(statuses: Iterable[str]) -> str:
    """The worst of several statuses (ok when there are none)."""
    return max(statuses, key=_RANK.__getitem__, default=OK)


def is_divergent(status: str) -> bool:
    return status in (INACCURATE, FAILED)


@dataclass(frozen=True)
class Tolerance:
    """Element-wise bound |torch - keras| <= atol + rtol * |keras| (Keras is the reference)."""

    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL

    def widened(self, extra_atol: float = 0.0, extra_rtol: float = 0.0) -> Tolerance:
        return Tolerance(self.atol + extra_atol, self.rtol + extra_rtol)

    def describe(self) -> str:
        return f"atol {self.atol:g}, rtol {self.rtol:g}"


@dataclass(frozen=True)
class ArrayDiff:
    """How one PyTorch array compares with its Keras counterpart."""

    status: str
    keras_shape: tuple[int, ...] | None
    torch_shape: tuple[int, ...] | None
    max_abs: float | None = None
    max_rel: float | None = None
    mismatched: int = 0  # elements beyond tolerance
    size: int = 0
    worst_index: tuple[int, ...] | None = None  # the element furthest beyond tolerance
    keras_value: float | None = None
    torch_value: float | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def describe(self) -> str:
        """One line a person can act on: what differs, where, and both sides' values."""
        if self.message and self.worst_index is None:
            return self.message
        text = (f"{self.mismatched} of {self.size} values beyond tolerance, max abs diff "
                f"{fmt(self.max_abs)}, max rel diff {fmt(self.max_rel)}")
        if self.worst_index is not None:
            text += (f"; at index {list(self.worst_index)} Keras {fmt(self.keras_value)}, "
                     f"PyTorch {fmt(self.torch_value)}")
        return text


def fmt(value: float | None) -> str:
    """A number for reports: short, but never rounded to zero when it is not zero."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) >= 1e-3 and abs(value) < 1e4 else f"{value:.2e}"


def shape_of(a: np.ndarray | None) -> tuple[int, ...] | None:
    return None if a is None else tuple(int(d) for d in np.shape(a))


def compare_arrays(keras: np.ndarray | None, torch: np.ndarray | None,
                   tol: Tolerance = Tolerance(), extra_atol: np.ndarray | float = 0.0) -> ArrayDiff:
    """Compares every element: shapes must match exactly, NaN only matches NaN, inf only itself.

    `extra_atol` widens the bound element by element where a stated reason allows it (an
    optimizer's known difference), never silently: callers report the bound they used.
    """
    k_shape, t_shape = shape_of(keras), shape_of(torch)
    if keras is None or torch is None:
        side = "Keras" if keras is None else "PyTorch"
        return ArrayDiff(FAILED, k_shape, t_shape, message=f"no value on the {side} side")
    if k_shape != t_shape:
        return ArrayDiff(FAILED, k_shape, t_shape,
                         message=f"shape differs: Keras {k_shape}, PyTorch {t_shape}")
    k = np.asarray(keras, dtype=np.float64)
    t = np.asarray(torch, dtype=np.float64)
    if k.size == 0:
        return ArrayDiff(OK, k_shape, t_shape, 0.0, 0.0, 0, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(t - k)
        same_special = (np.isnan(k) & np.isnan(t)) | (np.isinf(k) & (k == t))
        diff = np.where(same_special, 0.0, diff)
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only: infinitely wrong
        allowed = tol.atol + tol.rtol * np.where(np.isfinite(k), np.abs(k), 0.0)
        excess = diff - (allowed + np.broadcast_to(np.asarray(extra_atol, np.float64), k.shape))
        abs_k = np.abs(k)
        rel = np.where(diff == 0, 0.0, np.where(abs_k > 0, diff / np.where(abs_k > 0, abs_k, 1), np.inf))
    bad = excess > 0
    mismatched = int(bad.sum())
    flat = int(np.argmax(excess)) if mismatched else int(np.argmax(diff))
    index = tuple(int(i) for i in np.unravel_index(flat, k.shape))
    status = OK if mismatched == 0 else INACCURATE
    return ArrayDiff(
        status, k_shape, t_shape,
        max_abs=float(diff.max()), max_rel=float(rel.max()),
        mismatched=mismatched, size=int(k.size),
        worst_index=index if mismatched else None,
        keras_value=float(k[index]) if mismatched else None,
        torch_value=float(t[index]) if mismatched else None,
    )


def compare_scalars(keras: float | None, torch: float | None, tol: Tolerance = Tolerance()) -> ArrayDiff:
    """A scalar figure (a loss) compared like a 0-d array."""
    return compare_arrays(None if keras is None else np.asarray(keras),
                          None if torch is None else np.asarray(torch), tol)


@dataclass(frozen=True)
class Check:
    """One named comparison inside a layer row (an output on one probe, the in-model input...)."""

    what: str
    status: str
    diff: ArrayDiff | None = None
    message: str = ""

    def describe(self) -> str:
        detail = self.message or (self.diff.describe() if self.diff else "")
        return f"{self.what}: {detail}" if detail else self.what


def check_of(what: str, diff: ArrayDiff) -> Check:
    return Check(what, diff.status, diff)


@dataclass(frozen=True)
class LayerRow:
    """One Keras layer, the PyTorch module that computes it, and how their outputs compare."""

    keras_name: str
    keras_class: str
    torch_path: str
    checks: tuple[Check, ...] = ()

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks) if self.checks else UNCHECKED

    def _diffs(self) -> list[ArrayDiff]:
        return [c.diff for c in self.checks if c.diff is not None]

    @property
    def keras_shape(self) -> tuple[int, ...] | None:
        return next((d.keras_shape for d in self._diffs() if d.keras_shape is not None), None)

    @property
    def torch_shape(self) -> tuple[int, ...] | None:
        return next((d.torch_shape for d in self._diffs() if d.torch_shape is not None), None)

    @property
    def max_abs(self) -> float | None:
        values = [d.max_abs for d in self._diffs() if d.max_abs is not None]
        return max(values) if values else None

    @property
    def max_rel(self) -> float | None:
        values = [d.max_rel for d in self._diffs() if d.max_rel is not None]
        return max(values) if values else None

    def first_problem(self) -> Check | None:
        """The worst check, the one to show a person first."""
        bad = [c for c in self.checks if c.status != OK]
        return max(bad, key=lambda c: _RANK[c.status]) if bad else None


@dataclass(frozen=True)
class TrainFigure:
    """One level-2 figure: the batch, the loss, a gradient, a hyper-parameter or an updated weight."""

    name: str
    kind: str  # batch | loss | gradient | hyperparameter | update | step
    status: str
    keras: str = ""
    torch: str = ""
    diff: ArrayDiff | None = None
    bound: str = ""  # the tolerance applied, with its reason when it is wider than the default
    message: str = ""

    def describe(self) -> str:
        if self.message:
            return f"{self.name}: {self.message}"
        if self.diff is not None and self.diff.status != OK:
            return f"{self.name}: {self.diff.describe()}"
        return f"{self.name}: Keras {self.keras}, PyTorch {self.torch}"


@dataclass(frozen=True)
class TrainResult:
    """Level 2: one training step (or N) from identical weights on an identical batch."""

    steps: int
    figures: tuple[TrainFigure, ...] = ()
    message: str = ""  # set when level 2 could not run at all

    @property
    def status(self) -> str:
        if self.message and not self.figures:
            return UNCHECKED
        return worst(f.status for f in self.figures)

    def first_failure(self) -> TrainFigure | None:
        return next((f for f in self.figures if is_divergent(f.status)), None)


@dataclass(frozen=True)
class Verdict:
    """The outcome: pass, fail (a mismatch, located) or error (could not check)."""

    status: str  # pass | fail | error
    first_divergence: str | None
    max_abs_diff: float | None
    message: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def first_divergent_row(rows: Sequence[LayerRow]) -> LayerRow | None:
    return next((r for r in rows if is_divergent(r.status)), None)


def decide(rows: Sequence[LayerRow], train: TrainResult | None, output_row: LayerRow | None = None,
           notes: Sequence[str] = ()) -> Verdict:
    """The verdict from the layer rows (in model order), the model-output row and level 2."""
    all_rows = [*rows, *([output_row] if output_row else [])]
    values = [r.max_abs for r in all_rows if r.max_abs is not None and math.isfinite(r.max_abs)]
    max_abs = max(values) if values else None
    if any(r.max_abs is not None and not math.isfinite(r.max_abs) for r in all_rows):
        max_abs = math.inf
    row = first_divergent_row(rows)
    if row is not None:
        problem = row.first_problem()
        detail = problem.describe() if problem else row.status
        return Verdict("fail", row.keras_name, max_abs,
                       f"first divergence at layer {row.keras_name} ({row.keras_class}, PyTorch "
                       f"`{row.torch_path}`): {detail}", tuple(notes))
    if output_row is not None and is_divergent(output_row.status):
        problem = output_row.first_problem()
        detail = problem.describe() if problem else output_row.status
        compared = any(r.status == OK for r in rows)
        where = ("every layer matches on its own, so the error is in the model's forward() "
                 "between layers or after the last one" if compared else
                 "layers were not compared one by one")
        return Verdict("fail", None, max_abs, f"the model output differs ({detail}); {where}",
                       tuple(notes))
    if train is not None:
        figure = train.first_failure()
        if figure is not None:
            return Verdict("fail", None, max_abs,
                           f"forward pass matches, training does not: {figure.describe()}",
                           tuple(notes))
    unchecked = [r.keras_name for r in rows if r.status == UNCHECKED]
    extra = list(notes)
    if unchecked and len(unchecked) < len(rows):  # all unchecked: the caller's note says why
        extra.append("not compared one by one: " + ", ".join(unchecked))
    if train is not None and train.status == UNCHECKED:
        extra.append(f"training not compared: {train.message}")
    checked = ["every layer", "the model output"]
    if train is not None and train.figures:
        checked.append(f"{train.steps} training step{'s' if train.steps != 1 else ''}")
    listed = ", ".join(checked[:-1]) + " and " + checked[-1]
    return Verdict("pass", None, max_abs, f"parity holds: {listed} match within tolerance",
                   tuple(extra))
