"""Timing helpers shared by the benchmarks: subprocess runs, interleaved repeats, medians, load.

Timings on a shared machine are noisy, so every benchmark runs its variants interleaved (A, B, C,
A, B, C, ...) in the same session, repeats, reports the median with every sample beside it, and
prints the 1-minute load average next to each figure.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "BENCH_SECONDS"
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONHASHSEED": "0",
    "PYTHONPATH": str(ROOT),
}


def load() -> float:
    """The 1-minute load average (what else is running on the machine)."""
    return os.getloadavg()[0]


def run_script(path: Path, cwd: Path, env: dict | None = None, timeout: float = 1800) -> dict[str, float]:
    """Runs a script in a fresh interpreter; returns the `BENCH_SECONDS <name> <seconds>` lines it prints."""
    proc = subprocess.run([sys.executable, str(path)], cwd=cwd, env=env or ENV, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{path.name} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    found = {}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            _, name, seconds = line.split()
            found[name] = float(seconds)
    if not found:
        raise RuntimeError(f"{path.name} printed no {MARK} line:\n{proc.stdout[-2000:]}")
    return found


def wall(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Samples:
    """Timings of several named variants, each sample recorded with the load average beside it."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.loads: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float, load_avg: float | None = None) -> None:
        self.times.setdefault(name, []).append(seconds)
        self.loads.setdefault(name, []).append(load() if load_avg is None else load_avg)

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def line(self, name: str, unit: str = "s", scale: float = 1.0) -> str:
        values = ", ".join(f"{t * scale:.3g}" for t in self.times[name])
        loads = ", ".join(f"{x:.2f}" for x in self.loads[name])
        return (f"{name:<28} median {self.median(name) * scale:8.3f} {unit}  "
                f"(samples {values}; load {loads})")

    def ratio(self, num: str, den: str) -> float:
        return self.median(num) / self.median(den)


def interleave(variants: dict[str, Callable[[], float]], repeat: int, samples: Samples,
               verbose: bool = True) -> Samples:
    """Runs each variant once per round, rounds `repeat` times; each callable returns seconds."""
    for round_ in range(repeat):
        for name, fn in variants.items():
            before = load()
            seconds = fn()
            samples.add(name, seconds, before)
            if verbose:
                print(f"  round {round_ + 1}/{repeat} {name}: {seconds:.3f} s (load {before:.2f})",
                      file=sys.stderr, flush=True)
    return samples


def compare_scripts(models: list[str], write_scripts: Callable[[Path, str], dict[str, Path]], repeat: int,
                    keep: Path | None, report: Callable[[str, Samples, dict[str, Path]], None]) -> None:
    """For each model, the scripts `write_scripts` makes, each run in a fresh interpreter,
    interleaved `repeat` rounds (each prints `BENCH_SECONDS fit <s>`); `report` prints the ratios."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for model in models:
            paths = write_scripts(folder, model)
            samples = Samples()
            variants = {name: (lambda p=path: run_script(p, folder)["fit"]) for name, path in paths.items()}
            interleave(variants, repeat, samples)
            report(model, samples, paths)
