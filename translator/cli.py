"""The `keras2torch` command line: translate, rules, parity and weights."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from .api import TARGETS, TranslationError, translate_source
from .report import Stats, summary_line, to_json
from .rules import load_rules

EXIT_OK, EXIT_TODO, EXIT_ERROR = 0, 1, 2


def read_source(path: Path) -> str:
    """Reads a source honouring a PEP 263 coding line; raises OSError/UnicodeError/SyntaxError."""
    import tokenize

    with tokenize.open(path) as f:  # detects the declared encoding, UTF-8 otherwise
        return f.read()


def write_atomic(path: Path, text: str) -> None:
    """Writes through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _collect(sources: tuple[str, ...]) -> list[tuple[Path | None, Path | None, bool]]:
    """(file, path relative to its SRC root, named explicitly) for every input."""
    items: list[tuple[Path | None, Path | None, bool]] = []
    for src in sources:
        if src == "-":
            items.append((None, None, True))
            continue
        p = Path(src)
        if p.is_dir():
            for f in sorted(p.rglob("*.py")):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                items.append((f, f.relative_to(p), False))
        else:
            items.append((p, Path(p.name), True))
    return items


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras2torch")
def cli() -> None:
    """Translate Keras training scripts into standalone PyTorch scripts, and prove them equal."""


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (one SRC) or directory (several SRC or a directory).")
@click.option("--target", type=click.Choice(TARGETS), default="torch", show_default=True)
@click.option("--report-json", type=click.Path(path_type=Path), help="Write the diagnostics as JSON.")
def translate(sources: tuple[str, ...], output: Path | None, target: str, report_json: Path | None) -> None:
    """Translate Keras scripts (files, directories or - for stdin) to PyTorch.

    Exit status: 0 all translated, 1 something left as a TODO(keras2torch), 2 an input could not
    be translated at all.
    """
    items = _collect(sources)
    many = len(items) > 1 or any(Path(s).is_dir() for s in sources if s != "-")
    if many and output is None:
        raise click.UsageError("several sources or a directory need -o DIR")
    if many and output is not None and output.exists() and not output.is_dir():
        raise click.UsageError(f"{output} is a file; several sources need -o DIR")
    worst, total, files, report = EXIT_OK, Stats(), 0, []
    for path, rel, explicit in items:
        name = "-" if path is None else str(path)
        try:
            source = sys.stdin.read() if path is None else read_source(path)
            result = translate_source(source, target=target, filename=name)
        except TranslationError as exc:
            click.echo(f"{exc.filename}:{exc.line}:{exc.col}: error [syntax] {exc.message}", err=True)
            worst = max(worst, EXIT_ERROR)
            report.append({"path": name, "status": "error", "message": exc.message})
            continue
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            click.echo(f"{name}:1:1: error [unreadable] cannot read: {reason}", err=True)
            worst = max(worst, EXIT_ERROR)
            report.append({"path": name, "status": "error", "message": str(reason)})
            continue
        if not result.uses_keras and not explicit:
            continue  # directories translate only the files that use Keras
        files += 1
        total = total + result.stats
        for d in result.diagnostics:
            click.echo(d.render(), err=True)
        code = EXIT_TODO if result.todos else EXIT_OK
        worst = max(worst, code)
        report.append({"path": name, "status": "todo" if code else "ok",
                       "diagnostics": [d.__dict__ for d in result.diagnostics],
                       "models": [m.class_name for m in result.models]})
        if output is None:
            sys.stdout.write(result.code)
            continue
        dest = output / rel if many else output  # type: ignore[operator]
        if path is not None and dest.resolve() == path.resolve():
            click.echo(f"{name}:1:1: error [overwrite-input] refusing to overwrite the input", err=True)
            worst = max(worst, EXIT_ERROR)
            continue
        write_atomic(dest, result.code)
    click.echo(summary_line(files, total), err=True)
    if report_json is not None:
        write_atomic(report_json, to_json(report, total, worst) + "\n")
    sys.exit(worst)


@cli.command("rules")
@click.option("--markdown", is_flag=True, help="Print the Markdown coverage table for the README.")
def rules_command(markdown: bool) -> None:
    """Print the supported Keras API and what each item becomes."""
    r = load_rules()
    rows: list[tuple[str, str, str]] = []
    for name, m in sorted(r.layers.items()):
        target = m.torch or m.module or f"{m.hook} (rules hook)"
        rows.append(("layer", f"keras.layers.{name}", target))
    for name, act in sorted(r.activations.items()):
        rows.append(("activation", repr(name), act or "identity"))
    seen = set()
    for loss in r.losses.values():
        if loss.id in seen:
            continue
        seen.add(loss.id)
        rows.append(("loss", " / ".join(loss.names), f"{loss.logits} (logits) / {loss.probs} (probabilities)"))
    for name, m in sorted(r.optimizers.items()):
        if name == m.keras:
            rows.append(("optimizer", f"keras.optimizers.{name}", m.torch))
    seen = set()
    for metric in r.metrics.values():
        if metric.id not in seen:
            seen.add(metric.id)
            rows.append(("metric", " / ".join(repr(n) for n in metric.names), metric.torch))
    for name, m in sorted(r.callbacks.items()):
        rows.append(("callback", f"keras.callbacks.{name}", f"{m.torch} (support class)"))
    calls = [("model", "compile / fit / evaluate / predict / summary / save / save_weights / load_weights",
              "attributes + support functions"),
             ("utility", "keras.utils.to_categorical", "numpy one-hot"),
             ("utility", "keras.utils.set_random_seed / tf.random.set_seed", "torch.manual_seed (+ numpy, random)")]
    rows.extend(calls)
    if markdown:
        click.echo("| kind | Keras | PyTorch |\n|---|---|---|")
        for kind, keras, torch in rows:
            click.echo(f"| {kind} | `{keras}` | `{torch}` |")
    else:
        width = max(len(k) for _, k, _ in rows)
        for kind, keras, torch in rows:
            click.echo(f"{kind:<10} {keras:<{width}}  ->  {torch}")


def _register_optional() -> None:
    try:
        from .parity.command import parity_command, weights_command
    except ImportError:
        return
    cli.add_command(parity_command, "parity")
    cli.add_command(weights_command, "weights")


_register_optional()


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI and returns its exit status instead of exiting (for tests and embedding)."""
    try:
        cli.main(args=argv, prog_name="keras2torch", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("keras2torch: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - an internal error is reported, never shown as a traceback
        click.echo(f"keras2torch: internal error [internal-error] {type(exc).__name__}: {exc} "
                   "(please report this with the input)", err=True)
        return 3
    return 0


def entry() -> None:
    sys.exit(main())
