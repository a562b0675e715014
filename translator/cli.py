"""The `keras2torch` command line: translate, rules, parity and weights."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from . import files
from .api import TARGETS
from .config import Config, ConfigError, load_config
from .report import TODO, Stats, summary_line, to_json

EXIT_OK, EXIT_TODO, EXIT_ERROR = 0, 1, 2
SUFFIXES = (".py", ".ipynb")
OPTIONAL_COMMANDS = ("parity", "weights")  # in translator.parity, imported only when asked for


class _Group(click.Group):
    """The command group; `parity` and `weights` (absent when translator.parity cannot be imported)
    are imported when they are run or listed, never to translate."""

    _optional_loaded = False

    def _load_optional(self) -> None:
        if self._optional_loaded:
            return
        self._optional_loaded = True
        try:
            from .parity.command import parity_command, weights_command
        except ImportError:
            return
        self.add_command(parity_command, "parity")
        self.add_command(weights_command, "weights")

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in OPTIONAL_COMMANDS:
            self._load_optional()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_optional()
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="keras2torch")
def cli() -> None:
    """Translate Keras training scripts into standalone PyTorch scripts, and prove them equal."""


def read_source(path: Path) -> str:
    """Reads a source honouring a PEP 263 coding line; raises SourceError with the reason."""
    return files.read_source(path).text


write_atomic = files.write_atomic


@dataclass(frozen=True)
class Item:
    """One input of `translate`: the file (None: stdin), where its output goes, how it was named."""

    path: Path | None
    dest: Path | None
    explicit: bool


def _config(sources: tuple[str, ...], pyproject: Path | None) -> Config:
    try:
        return load_config([Path(s) for s in sources if s != "-"], pyproject)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _target(flag: str | None, config: Config) -> str:
    target = flag or config.target
    if target not in TARGETS:
        where = f" (from {config.path})" if flag is None and config.path else ""
        raise click.UsageError(f"unknown target {target!r}{where}; choose from {', '.join(TARGETS)}")
    return target


def _source_of_twin(path: Path, config: Config, target: str) -> Path | None:
    """The Keras source a generated twin names in its header, when the twin is where it belongs."""
    try:
        head = path.read_bytes()[:4096].decode("utf-8", errors="replace")
    except OSError:
        return None
    name = files.generated_from(head)
    if not name:
        return None
    source = path.parent / name
    if source.is_file() and config.is_source_name(source) and config.twin_of(source, target) == path:
        return source
    return None


def _twin_items(sources: tuple[str, ...], config: Config, target: str,
                issues: list[files.WalkIssue]) -> list[Item]:
    """Keras sources among SOURCES (directories walked) with their twins; a twin maps back."""
    found: dict[Path, Item] = {}
    for src in sources or (".",):
        if src == "-":
            raise click.UsageError("twins, --check and --diff need files, not stdin")
        p = Path(src)
        if p.is_dir():
            candidates = [f for f in files.walk(p, SUFFIXES, issues=issues)
                          if config.is_source_name(f)]
        elif config.is_source_name(p):
            candidates = [p]
        else:
            source = _source_of_twin(p, config, target) if p.is_file() else None
            candidates = [source] if source is not None else []
        for c in candidates:
            key = Path(os.path.abspath(c))
            found.setdefault(key, Item(c, config.twin_of(c, target), p == c))
    return list(found.values())


def _plain_items(sources: tuple[str, ...], output: Path | None, many: bool,
                 issues: list[files.WalkIssue]) -> list[Item]:
    items: list[Item] = []
    for src in sources:
        if src == "-":
            items.append(Item(None, output, True))
            continue
        p = Path(src)
        if p.is_dir():
            if output is not None and os.path.realpath(output) == os.path.realpath(p):
                raise click.UsageError(f"the output folder {output} is the input folder {p}")
            skip = (output,) if output is not None else ()
            for f in files.walk(p, SUFFIXES, skip=skip, issues=issues):
                items.append(Item(f, output / f.relative_to(p) if output else None, False))
        else:
            dest = (output / p.name if many else output) if output is not None else None
            items.append(Item(p, dest, True))
    return items


def _read_existing(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return None
    except OSError:
        return ""


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file (one SRC) or directory (several SRC or a directory).")
@click.option("--target", type=click.Choice(TARGETS), default=None,
              help="Target framework (default: [tool.keras2torch] target, else torch).")
@click.option("--twins", is_flag=True,
              help="Write each Keras source's twin beside it (model_keras.py -> model_torch.py); "
                   "exit 1 when a twin was written or changed.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 when an output is missing or differs from what would be "
                   "generated.")
@click.option("--diff", is_flag=True, help="Write nothing; print a unified diff for each stale output.")
@click.option("--force", is_flag=True, help="Overwrite outputs that keras2torch did not generate.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Translate in N parallel processes.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--config", "pyproject", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="pyproject.toml to read [tool.keras2torch] from (default: the nearest above "
                   "the sources).")
@click.option("--report-json", type=click.Path(path_type=Path), help="Write the diagnostics as JSON.")
def translate(sources: tuple[str, ...], output: Path | None, target: str | None, twins: bool,
              check: bool, diff: bool, force: bool, jobs: int, progress: bool | None,
              pyproject: Path | None, report_json: Path | None) -> None:
    """Translate Keras scripts and notebooks (files, directories or - for stdin) to PyTorch.

    Exit status: 0 all translated, 1 something left as a TODO(keras2torch), 2 an input could not
    be translated at all. With --twins, --check or --diff: 0 every output up to date, 1 an output
    was (or would be) written, 2 an error.
    """
    from .workflow import Progress, progress_enabled, translate_many

    config = _config(sources, pyproject)
    target = _target(target, config)
    twins = twins or ((check or diff) and output is None)
    if twins and output is not None:
        raise click.UsageError("--twins writes each twin beside its source: drop -o")
    if not sources and not twins:
        raise click.UsageError("give a file, a directory or - for stdin")
    issues: list[files.WalkIssue] = []
    many = len(sources) > 1 or any(Path(s).is_dir() for s in sources if s != "-")
    if twins:
        items = _twin_items(sources, config, target, issues)
        if not items:
            click.echo(f"keras2torch: no Keras source among {' '.join(sources) or '.'} (sources are "
                       f"files named {', '.join(config.sources)})", err=True)
    else:
        if many and output is None:
            raise click.UsageError("several sources or a directory need -o DIR")
        if many and output is not None and output.exists() and not output.is_dir():
            raise click.UsageError(f"{output} is a file; several sources need -o DIR")
        items = _plain_items(sources, output, many, issues)
    compare_only = check or diff
    stdin_text = sys.stdin.read() if any(i.path is None for i in items) else None
    bar = Progress(len(items), "keras2torch translate", progress_enabled(progress) and len(items) > 1)
    worst, total, count, report = EXIT_OK, Stats(), 0, []
    written = stale = fresh = 0
    for issue in issues:
        bar.echo(f"{issue.path}:1:1: warning [walk] {issue.message}; skipped")
    outcomes = translate_many([i.path for i in items], target, jobs, stdin_text, bar)
    for item, outcome in zip(items, outcomes, strict=True):
        name = outcome.name
        if outcome.error is not None:
            bar.echo(outcome.error.render())
            worst = max(worst, EXIT_ERROR)
            report.append({"path": name, "status": "error", "message": outcome.error.message})
            continue
        if outcome.generated:
            if item.explicit and not twins:
                bar.echo(f"{name}:1:1: error [generated-input] {name} was generated by keras2torch; "
                         "translate its Keras source instead")
                worst = max(worst, EXIT_ERROR)
            continue  # a generated file is never a source
        if not outcome.uses_keras and not (item.explicit and not twins):
            continue  # only files that use Keras are translated, unless named explicitly
        count += 1
        total = total + outcome.stats
        for d in outcome.diagnostics:
            bar.echo(d.render())
        status = "todo" if outcome.todos else "ok"
        if not twins and not compare_only:
            worst = max(worst, EXIT_TODO if outcome.todos else EXIT_OK)
        entry = {"path": name, "status": status,
                 "diagnostics": [d.__dict__ for d in outcome.diagnostics],
                 "models": list(outcome.models)}
        report.append(entry)
        if item.dest is None:
            sys.stdout.write(outcome.code)
            continue
        dest = item.dest
        if item.path is not None and os.path.realpath(dest) == os.path.realpath(item.path):
            bar.echo(f"{name}:1:1: error [overwrite-input] refusing to overwrite the input")
            worst = max(worst, EXIT_ERROR)
            entry["status"] = "error"
            continue
        existing = _read_existing(dest)
        entry["output"] = str(dest)
        if existing == outcome.code:
            fresh += 1
            continue
        if compare_only:
            stale += 1
            worst = max(worst, EXIT_TODO)
            entry["stale"] = True
            if diff:
                bar.clear()
                sys.stdout.write(files.unified_diff(existing, outcome.code, str(dest)))
            if check:
                what = "missing" if existing is None else "out of date"
                bar.echo(f"{dest}:1:1: error [stale-output] {what}: differs from what keras2torch "
                         f"generates from {name}")
            continue
        if existing is not None and not force and not files.file_is_generated(dest):
            bar.echo(f"{dest}:1:1: error [overwrite] refusing to overwrite {dest}: keras2torch did "
                     "not generate it (--force overwrites it)")
            worst = max(worst, EXIT_ERROR)
            entry["status"] = "error"
            continue
        try:
            files.write_atomic(dest, outcome.code)
        except OSError as exc:
            bar.echo(f"{dest}:1:1: error [unwritable] cannot write: {exc.strerror or exc}")
            worst = max(worst, EXIT_ERROR)
            entry["status"] = "error"
            continue
        written += 1
        if twins:
            worst = max(worst, EXIT_TODO)
            bar.echo(f"keras2torch: {'wrote' if existing is None else 'regenerated'} {dest} "
                     f"from {name}")
    bar.finish()
    click.echo(summary_line(count, total), err=True)
    if twins or compare_only:
        verb = "would be written" if compare_only else "written"
        click.echo(f"keras2torch: {written + stale} output(s) {verb}, {fresh} up to date", err=True)
    if report_json is not None:
        files.write_atomic(report_json, to_json(report, total, worst) + "\n")
    sys.exit(worst)


@cli.command("check")
@click.argument("sources", nargs=-1)
@click.option("--target", type=click.Choice(TARGETS), default=None)
@click.option("--config", "pyproject", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="pyproject.toml to read [tool.keras2torch] from.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True)
def check_command(sources: tuple[str, ...], target: str | None, pyproject: Path | None,
                  jobs: int) -> None:
    """Exit 1 when a Keras source uses something keras2torch would leave as a TODO.

    Sources are the files matching [tool.keras2torch] sources (default *_keras.py, *_keras.ipynb);
    directories are searched; nothing is written. Exit status: 0 all translatable, 1 a TODO, 2 an
    error.
    """
    from .workflow import translate_many

    config = _config(sources, pyproject)
    target = _target(target, config)
    issues: list[files.WalkIssue] = []
    items = _twin_items(sources, config, target, issues)
    worst, total, count = EXIT_OK, Stats(), 0
    for issue in issues:
        click.echo(f"{issue.path}:1:1: warning [walk] {issue.message}; skipped", err=True)
    for outcome in translate_many([i.path for i in items], target, jobs):
        if outcome.error is not None:
            click.echo(outcome.error.render(), err=True)
            worst = max(worst, EXIT_ERROR)
            continue
        if outcome.generated or not outcome.uses_keras:
            continue
        count += 1
        total = total + outcome.stats
        for d in outcome.diagnostics:
            if d.severity in (TODO, "error"):
                click.echo(d.render(), err=True)
        worst = max(worst, EXIT_TODO if outcome.todos else EXIT_OK)
    click.echo(summary_line(count, total), err=True)
    sys.exit(worst)


@cli.command("rules")
@click.option("--markdown", is_flag=True, help="Print the Markdown coverage table for the README.")
def rules_command(markdown: bool) -> None:
    """Print the supported Keras API and what each item becomes."""
    from .rules import load_rules

    r = load_rules()
    rows: list[tuple[str, str, str]] = []
    for name, m in sorted(r.layers.items()):
        target = m.torch or m.module or (f"{m.hook} (rules hook)" if m.hook else "the activation table")
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
    for key, u in sorted(r.utilities.items()):
        rows.append(("utility", key, u.get("template") or f"{u['support']} (support function)"))
    calls = [("model", ("compile / fit / evaluate / predict / summary / save / save_weights / load_weights"
                        " / predict_classes / predict_proba / count_params"), "attributes + support functions"),
             ("model", ("keras.Sequential([...]) / .add() / keras.Model(inputs, outputs) over a chain of"
                        " layers / a model used as a layer"), "one nn.Module per model"),
             ("data", "tf.data.Dataset.from_tensor_slices(arrays)[.shuffle(n)].batch(b)[.prefetch/.cache]",
              "the arrays, with fit's batch_size and shuffle"),
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
        import traceback

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "translator" in f.filename]
        where = ""
        if frames:  # the innermost frame of ours: what a bug report needs beside the input
            f = frames[-1]
            where = f" at {Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}()"
        click.echo(f"keras2torch: internal error [internal-error] {type(exc).__name__}: {exc}{where} "
                   "(please report this with the input)", err=True)
        return 3
    return 0


def entry() -> None:
    sys.exit(main())
