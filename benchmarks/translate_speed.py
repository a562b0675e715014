"""Translation speed (goal 3 of the performance issue), each figure beside its baseline:

- in-process `translate_source` per file against a bare libcst parse-and-print round trip of the
  same file (goal: at most 3x), over every fixture and a large generated script;
- `keras2torch translate` on one small file as a whole process (goal: under 0.5 s), against a bare
  `python -c "import libcst"` process;
- `translate DIR -j 2` against `-j 1` on a directory of a few hundred copies of the fixtures
  (goal: close to 2x on 2 cores).

Run: python benchmarks/translate_speed.py [--repeat 5] [--files 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libcst

from translator import translate_source


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def big_script(layers: int) -> str:
    body = ",\n".join("    keras.layers.Dense(32, activation='relu')" for _ in range(layers))
    return (f"import keras\nimport numpy as np\nmodel = keras.Sequential([\n    keras.Input(shape=(32,)),\n"
            f"{body},\n])\nmodel.compile(optimizer='adam', loss='mse')\n"
            "model.fit(np.zeros((64, 32)), np.zeros((64, 32)), epochs=1)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    sources = {p.parent.name: p.read_text() for p in sorted((ROOT / "fixtures").glob("*/input.py"))}
    sources["generated, 500 layers"] = big_script(500)
    translate_source(next(iter(sources.values())))  # rules loaded once, as in any long run
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'file':<32}{'round trip':>12}{'translate':>12}{'ratio':>8}")
    ratios = []
    for name, src in sources.items():
        base = best(lambda s=src: libcst.parse_module(s).code, args.repeat)
        ours = best(lambda s=src: translate_source(s), args.repeat)
        ratios.append(ours / base)
        print(f"{name:<32}{base * 1000:>10.1f}ms{ours * 1000:>10.1f}ms{ours / base:>7.2f}x")
    print(f"median ratio translate / round trip: {statistics.median(ratios):.2f}x "
          f"(max {max(ratios):.2f}x; goal <= 3x)")

    small = ROOT / "fixtures" / "mlp_tf_keras" / "input.py"
    cli = [sys.executable, "-m", "translator", "translate", str(small)]
    bare = [sys.executable, "-c", "import libcst, click"]
    run = lambda cmd: subprocess.run(cmd, capture_output=True, check=False)
    run(cli)  # fills the cache of parsed rules and template scans, as any first run does
    t_cli, t_bare = best(lambda: run(cli), args.repeat), best(lambda: run(bare), args.repeat)
    no_cache = {**os.environ, "KERAS2TORCH_NO_CACHE": "1"}
    t_cold = best(lambda: subprocess.run(cli, capture_output=True, check=False, env=no_cache), args.repeat)
    print(f"whole process on one small file: {t_cli:.3f} s (goal < 0.5 s; {t_cold:.3f} s without the "
          f"cache); a bare interpreter importing libcst and click: {t_bare:.3f} s")

    with tempfile.TemporaryDirectory() as tmp:
        src_dir = Path(tmp) / "src"
        src_dir.mkdir()
        fixtures = sorted((ROOT / "fixtures").glob("*/input.py"))
        for i in range(args.files):
            shutil.copy(fixtures[i % len(fixtures)], src_dir / f"script_{i:04d}.py")
        times = {}
        for jobs in (1, 2):
            out = Path(tmp) / f"out{jobs}"
            cmd = [sys.executable, "-m", "translator", "translate", str(src_dir), "-o", str(out), "-j", str(jobs)]
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=False)
            times[jobs] = time.perf_counter() - start
        print(f"{args.files} files: -j 1 {times[1]:.1f} s, -j 2 {times[2]:.1f} s, "
              f"speed-up {times[1] / times[2]:.2f}x (goal close to 2x)")


if __name__ == "__main__":
    main()
