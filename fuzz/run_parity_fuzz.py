"""Differential fuzzing: random Keras Sequential models, translated and checked by parity.

    python -m fuzz.run_parity_fuzz --count 1000 --seed 0

Each model is rendered as a Keras script, translated, and checked with the parity checker (every
layer's output, the model output and one training step). Prints a summary: cases, passes,
failures, and per Keras layer class how many cases used it and how many of those failed.
Failing scripts are kept under --keep (default fuzz/failures/) for a regression fixture.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.strategies import ModelSpec, collect, model_specs, render
from translator.api import translate_source


@dataclass(frozen=True)
class Outcome:
    spec: ModelSpec
    status: str  # pass, fail, error (parity could not check), untranslated
    message: str
    script: str


def check_specs(specs: list[ModelSpec], workdir: Path, train_steps: int = 1,
                progress=None) -> list[Outcome]:
    """Translates and checks every spec; each script in its own folder under `workdir`."""
    from translator.parity.batch import check_many
    from translator.parity.check import ParityOptions

    outcomes: list[Outcome | None] = [None] * len(specs)
    cases = []
    for n, spec in enumerate(specs):
        script = render(spec)
        folder = workdir / f"case_{n:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "model.py"
        path.write_text(script)
        result = translate_source(script, filename=str(path))
        todos = [d for d in result.diagnostics if d.severity in ("todo", "error")]
        if todos:
            outcomes[n] = Outcome(spec, "untranslated", f"[{todos[0].rule}] {todos[0].message}", script)
            continue
        cases.append((n, path, result))
    options = ParityOptions(train_steps=train_steps, timeout_s=120)
    results = check_many(((p, r.code, r.models) for _, p, r in cases), options)
    for (n, _, _), parity in zip(cases, results, strict=True):
        status = parity.verdict.status
        outcomes[n] = Outcome(specs[n], status if status in ("pass", "fail") else "error",
                              _describe(parity), render(specs[n]))
        if progress is not None:
            progress(n, outcomes[n])
    return [o for o in outcomes if o is not None]


def _describe(parity) -> str:
    verdict = parity.verdict
    where = f" (first divergence: {verdict.first_divergence})" if verdict.first_divergence else ""
    return f"{verdict.message}{where}"


def summary(outcomes: list[Outcome]) -> str:
    counts = collections.Counter(o.status for o in outcomes)
    lines = [(f"cases {len(outcomes)}: pass {counts['pass']}, fail {counts['fail']}, "
              f"error {counts['error']}, untranslated {counts['untranslated']}")]
    used: collections.Counter = collections.Counter()
    failed: collections.Counter = collections.Counter()
    for o in outcomes:
        for cls in o.spec.layer_classes:
            used[cls] += 1
            if o.status in ("fail", "error"):
                failed[cls] += 1
    lines.append(f"{'layer':28} {'cases':>6} {'failed':>7}")
    for cls in sorted(used):
        lines.append(f"{cls:28} {used[cls]:6d} {failed[cls]:7d}")
    messages = collections.Counter(o.message.split(":")[0][:100] for o in outcomes
                                   if o.status != "pass")
    for message, n in messages.most_common(10):
        lines.append(f"  {n:4d} x {message}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=Path(__file__).parent / "failures")
    args = parser.parse_args(argv)
    started = time.monotonic()
    specs = collect(model_specs(), args.count, seed=args.seed)

    def progress(n: int, outcome: Outcome) -> None:
        if outcome.status != "pass":
            print(f"case {n}: {outcome.status}: {outcome.message}", flush=True)
        elif (n + 1) % 50 == 0:
            print(f"... {n + 1} checked, {time.monotonic() - started:.0f} s", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="keras2torch-fuzz-"))
    try:
        outcomes = check_specs(specs, workdir, progress=progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bad = [(n, o) for n, o in enumerate(outcomes) if o.status in ("fail", "error")]
    if bad:
        args.keep.mkdir(parents=True, exist_ok=True)
        for n, o in bad:
            (args.keep / f"seed{args.seed}_case{n:05d}.py").write_text(
                f"# {o.status}: {o.message}\n{o.script}")
    print(summary(outcomes))
    print(f"seed {args.seed}, {time.monotonic() - started:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
