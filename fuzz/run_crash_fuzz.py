"""Crash fuzzing: the translator must answer every input with a result or a clean refusal.

    python -m fuzz.run_crash_fuzz --count 10000 --seed 0

Inputs: programs from hypothesmith (with and without Keras imports in front), mutated fixtures
(lines deleted, duplicated, swapped, tokens replaced, wrong-typed arguments, layers put in loops
and comprehensions), odd model forms (config dicts, getattr, subclasses) and pathological text.
Each goes through `translate_source`; every --cli-every'th also through the CLI (`main(argv)`).
A crash is any exception other than TranslationError, a translation that is not valid Python, or
a CLI exit status outside 0, 1, 2. Prints the counts and every crash with how to reproduce it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.mutations import mutated_inputs
from translator.api import TranslationError, translate_source

KERAS_HEADER = "import keras\nfrom keras import layers\nimport tensorflow as tf\n"


@dataclass(frozen=True)
class Finding:
    label: str
    kind: str  # crash, invalid-output, cli-exit
    detail: str
    source: str


def pathological_inputs() -> list[tuple[str, str]]:
    """Text that stresses the parser and the walkers rather than the rules."""
    dense = "keras.layers.Dense(4)"
    many = ",\n    ".join([dense] * 3000)
    return [
        ("empty", ""),
        ("only a newline", "\n"),
        ("only a comment", "# nothing\n"),
        ("a NUL byte", "import keras\nx = 1\x00\n"),
        ("a BOM", "\ufeffimport keras\nmodel = keras.Sequential()\n"),
        ("CRLF", "import keras\r\nmodel = keras.Sequential([keras.layers.Dense(2)])\r\n"),
        ("lone CR", "import keras\rmodel = 1\r"),
        ("form feed", "import keras\n\x0cmodel = keras.Sequential()\n"),
        ("tabs and spaces", "import keras\nif True:\n\tx = 1\n        y = 2\n"),
        ("deep parentheses", "import keras\nx = " + "(" * 500 + "1" + ")" * 500 + "\n"),
        ("deep lists", "import keras\nx = " + "[" * 200 + "]" * 200 + "\n"),
        ("deep calls", "import keras\nx = " + "keras.layers.Dense(" * 60 + "1" + ")" * 60 + "\n"),
        ("deep blocks", "import keras\n" + "".join("    " * i + "if x:\n" for i in range(90))
         + "    " * 90 + "pass\n"),
        ("long line", "import keras\nx = [" + "1, " * 20000 + "]\n"),
        ("long chain", "import keras\nx = " + " + ".join(["1"] * 3000) + "\n"),
        ("3000 layers", ("import keras\nmodel = keras.Sequential([\n    keras.Input(shape=(4,)),\n"
                         f"    {many},\n])\nmodel.compile(optimizer='adam', loss='mse')\n")),
        ("unicode names", ("import keras\nmodèle = keras.Sequential([keras.layers.Dense(2)])\n"
                           "modèle.compile(optimizer='adam', loss='mse')\n")),
        ("surrogate", "import keras\nx = '\udc80'\n"),
        ("keras shadowed", "import keras\nkeras = 3\nmodel = keras.Sequential()\n"),
        ("layers rebound", "from keras import layers\nlayers = None\nlayers.Dense(3)\n"),
        ("walrus and match", ("import keras\nif (m := keras.Sequential()):\n    match m:\n"
                              "        case keras.Sequential():\n            pass\n")),
        ("async", ("import keras\nasync def f():\n    model = keras.Sequential()\n"
                   "    await model.fit(x)\n")),
        ("print to file", "import keras\nprint('x', file=open('/etc/passwd', 'w'))\n"),
    ]


def hypothesmith_inputs(count: int, seed: int) -> list[tuple[str, str]]:
    """Programs from hypothesmith's grammar strategy; every other one gets Keras imports."""
    import hypothesmith

    from fuzz.strategies import collect

    programs = collect(hypothesmith.from_grammar(), count, seed=seed)
    out = []
    for n, program in enumerate(programs):
        text = KERAS_HEADER + program if n % 2 else program
        out.append((f"hypothesmith seed {seed} #{n}", text))
    return out


def check_translation(label: str, source: str) -> Finding | None:
    """None when the translator answered properly; otherwise what went wrong."""
    try:
        result = translate_source(source, filename="fuzz_input.py")
    except TranslationError:
        return None
    except RecursionError:
        return Finding(label, "crash", "RecursionError", source)
    except Exception as exc:  # noqa: BLE001 - that is exactly what is being looked for
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return Finding(label, "crash", f"{type(exc).__name__} at {where}: {exc}"[:300], source)
    if result.uses_keras and _compiles(source):  # invalid for CPython in, invalid out: fair
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile(result.code, "translated.py", "exec")
        except (SyntaxError, ValueError) as exc:
            return Finding(label, "invalid-output", f"{type(exc).__name__}: {exc}"[:300], source)
    return None


def _compiles(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "input.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def check_cli(label: str, source: str, folder: Path) -> Finding | None:
    """The CLI on the input as a file: exit 0, 1 or 2 and the input left as it was."""
    from translator.cli import main

    path = folder / "input.py"
    out = folder / "out.py"
    data = source.encode("utf-8", errors="surrogateescape")
    path.write_bytes(data)
    out.unlink(missing_ok=True)
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["translate", str(path), "-o", str(out)])
    if code not in (0, 1, 2):
        return Finding(label, "cli-exit", f"exit {code}: {err.getvalue().strip()[-300:]}", source)
    if path.read_bytes() != data:
        return Finding(label, "cli-exit", "the input file was modified", source)
    if code == 2 and "error [" not in err.getvalue():
        return Finding(label, "cli-exit", "exit 2 without a diagnostic", source)
    return None


def run(inputs: list[tuple[str, str]], cli_every: int = 10, progress=None) -> tuple[int, list]:
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="keras2torch-crash-") as tmp:
        folder = Path(tmp)
        for n, (label, source) in enumerate(inputs):
            finding = check_translation(label, source)
            if finding is None and cli_every and n % cli_every == 0:
                finding = check_cli(label, source, folder)
            if finding is not None:
                findings.append(finding)
            if progress is not None:
                progress(n, finding)
    return len(inputs), findings


def all_inputs(count: int, seed: int) -> list[tuple[str, str]]:
    """The pathological set, then a quarter hypothesmith programs, the rest mutations."""
    special = pathological_inputs()
    n_hypo = max(count // 4, 0)
    n_mut = max(count - n_hypo - len(special), 0)
    return special + hypothesmith_inputs(n_hypo, seed) + mutated_inputs(n_mut, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli-every", type=int, default=10,
                        help="also run every Nth input through the CLI (0: never)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    inputs = all_inputs(args.count, args.seed)
    print(f"{len(inputs)} inputs generated in {time.monotonic() - started:.0f} s", flush=True)

    def progress(n: int, finding: Finding | None) -> None:
        if finding is not None:
            print(f"{finding.kind}: {finding.label}: {finding.detail}", flush=True)
        if (n + 1) % 1000 == 0:
            print(f"... {n + 1} inputs, {time.monotonic() - started:.0f} s", flush=True)

    total, findings = run(inputs, args.cli_every, progress)
    kinds = collections.Counter(f.kind for f in findings)
    cli = len(range(0, total, args.cli_every)) if args.cli_every else 0
    print(f"inputs {total} (CLI on {cli}): crashes {kinds['crash']}, invalid outputs "
          f"{kinds['invalid-output']}, bad CLI exits {kinds['cli-exit']}; seed {args.seed}, "
          f"{time.monotonic() - started:.0f} s")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
