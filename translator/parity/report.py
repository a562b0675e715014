"""Renders a parity result as a text table, as JSON and as JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from .check import ParityResult, SideRun
from .compare import OK, UNCHECKED, ArrayDiff, Check, LayerRow, TrainFigure, fmt, is_divergent

COLUMNS = ("Keras layer", "class", "PyTorch module", "Keras shape", "PyTorch shape", "max abs",
           "max rel", "status")


def _shape(shape: tuple[int, ...] | None) -> str:
    return "-" if shape is None else str(tuple(shape))


def _row_cells(row: LayerRow) -> tuple[str, ...]:
    return (row.keras_name, row.keras_class, row.torch_path or "-", _shape(row.keras_shape),
            _shape(row.torch_shape), fmt(row.max_abs), fmt(row.max_rel), row.status)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip()
    return [line(header), *(line(r) for r in rows)]


def _figure_cells(f: TrainFigure) -> tuple[str, ...]:
    abs_diff = fmt(f.diff.max_abs) if f.diff else "-"
    return (f.name, f.keras or "-", f.torch or "-", abs_diff, f.status)


def render_text(result: ParityResult, source: str = "") -> str:
    """The report a person reads: one row per layer, level 2 figures, then where and the verdict."""
    out = [f"keras2torch parity: {source}" if source else "keras2torch parity"]
    tol = result.options.tolerance
    if result.model:
        out.append(f"model: {result.model}    tolerance: {tol.describe()}")
    if result.rows or result.output:
        out.append("")
        rows = [_row_cells(r) for r in result.rows]
        if result.output is not None:
            rows.append(_row_cells(result.output))
        out.extend(_table(COLUMNS, rows))
    train = result.train
    if train is not None:
        plural = "s" if train.steps != 1 else ""
        out += ["", f"training ({train.steps} step{plural} from identical weights, dropout off):"]
        if train.figures:
            out.extend("  " + line for line in _table(
                ("figure", "Keras", "PyTorch", "max abs", "status"),
                [_figure_cells(f) for f in train.figures]))
            bounds = sorted({f.bound for f in train.figures if f.bound and "+" in f.bound})
            out.extend(f"  bound: {b}" for b in bounds)
        if train.message:
            out.append(f"  not compared: {train.message}")
    verdict = result.verdict
    out.append("")
    divergent = next((r for r in result.rows if is_divergent(r.status)), None)
    if divergent is not None:
        out.append(f"first divergence: {divergent.keras_name} ({divergent.keras_class}, PyTorch "
                   f"`{divergent.torch_path}`)")
        for check in divergent.checks:
            if check.status != OK:
                out.append(f"  {check.status}: {check.describe()}")
    elif train is not None and train.first_failure() is not None:
        failure = train.first_failure()
        out.append(f"first divergence: training, {failure.describe()}")
    out.append(f"verdict: {verdict.status.upper()}: {verdict.message}")
    for note in verdict.notes:
        out.append(f"note: {note}")
    if verdict.status == "error":
        for side in (result.keras_run, result.torch_run):
            if side is not None and side.status != "ok" and side.output_tail:
                out.append(f"--- end of the {side.label} script's output ---")
                out.append(side.output_tail)
    return "\n".join(out) + "\n"


# --- JSON ---------------------------------------------------------------------------------------

def _number(value: float | None):
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan: "inf", "nan"
    return value


def _diff_json(diff: ArrayDiff | None) -> dict:
    if diff is None:
        return {}
    return {"keras_shape": diff.keras_shape, "torch_shape": diff.torch_shape,
            "max_abs_diff": _number(diff.max_abs), "max_rel_diff": _number(diff.max_rel),
            "mismatched": diff.mismatched, "size": diff.size,
            "worst_index": diff.worst_index, "keras_value": _number(diff.keras_value),
            "torch_value": _number(diff.torch_value)}


def _check_json(check: Check) -> dict:
    return {"what": check.what, "status": check.status,
            "message": check.message or (check.diff.describe() if check.diff and not check.diff.ok
                                         else ""), **_diff_json(check.diff)}


def _row_json(row: LayerRow) -> dict:
    return {"keras_name": row.keras_name, "keras_class": row.keras_class,
            "torch_path": row.torch_path, "keras_shape": row.keras_shape,
            "torch_shape": row.torch_shape, "max_abs_diff": _number(row.max_abs),
            "max_rel_diff": _number(row.max_rel), "status": row.status,
            "checks": [_check_json(c) for c in row.checks]}


def _figure_json(f: TrainFigure) -> dict:
    return {"name": f.name, "kind": f.kind, "status": f.status, "keras": f.keras,
            "torch": f.torch, "bound": f.bound, "message": f.message or (
                f.diff.describe() if f.diff and not f.diff.ok else ""), **_diff_json(f.diff)}


def _side_json(side: SideRun | None) -> dict | None:
    if side is None:
        return None
    return {"status": side.status, "message": side.message, "seconds": round(side.duration_s, 3),
            "output_tail": side.output_tail}


def to_dict(result: ParityResult, source: str = "") -> dict:
    verdict = result.verdict
    train = result.train
    return {
        "source": source,
        "status": verdict.status,
        "first_divergence": verdict.first_divergence,
        "max_abs_diff": _number(verdict.max_abs_diff),
        "message": verdict.message,
        "notes": list(verdict.notes),
        "model": result.model,
        "tolerance": {"atol": result.options.atol, "rtol": result.options.rtol},
        "layers": [_row_json(r) for r in result.rows],
        "output": _row_json(result.output) if result.output else None,
        "train": None if train is None else {
            "steps": train.steps, "status": train.status, "message": train.message,
            "figures": [_figure_json(f) for f in train.figures]},
        "runs": {"keras": _side_json(result.keras_run), "torch": _side_json(result.torch_run)},
        "seconds": round(result.seconds, 3),
    }


def render_json(result: ParityResult, source: str = "") -> str:
    return json.dumps(to_dict(result, source), indent=2) + "\n"


# --- JUnit --------------------------------------------------------------------------------------

def _case(suite: ET.Element, classname: str, name: str, status: str, message: str) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name)
    if is_divergent(status):
        ET.SubElement(case, "failure", message=message, type=status).text = message
    elif status == UNCHECKED:
        ET.SubElement(case, "skipped", message=message)


def render_junit(result: ParityResult, source: str = "") -> str:
    """One test case per layer, the model output and each training figure; errors as one case."""
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name=f"keras2torch parity {source}".strip())
    classname = f"parity.{source}" if source else "parity"
    if result.verdict.status == "error":
        case = ET.SubElement(suite, "testcase", classname=classname, name="parity")
        ET.SubElement(case, "error", message=result.verdict.message).text = "\n".join(
            s.output_tail for s in (result.keras_run, result.torch_run) if s and s.status != "ok")
    rows = [*result.rows, *([result.output] if result.output else [])]
    for row in rows:
        problem = row.first_problem()
        _case(suite, f"{classname}.layers", row.keras_name, row.status,
              problem.describe() if problem else "")
    if result.train is not None:
        for f in result.train.figures:
            _case(suite, f"{classname}.train", f.name, f.status, f.describe())
        if result.train.message:
            _case(suite, f"{classname}.train", "training", UNCHECKED, result.train.message)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    suite.set("time", f"{result.seconds:.3f}")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
