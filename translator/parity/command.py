"""The `keras2torch parity` and `keras2torch weights` commands (frameworks are imported lazily)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

EXIT_PASS, EXIT_MISMATCH, EXIT_CANNOT_CHECK = 0, 1, 2
TODO_MARK = "TODO(keras2torch)"
DEFAULT_MEMORY_MB = 8192
DEFAULT_TIMEOUT_S = 300.0


class CannotCheck(Exception):
    """The check cannot start (unreadable source, untranslated parts...): exit 2 with this reason."""


def _read(path: Path) -> str:
    import tokenize

    try:
        with tokenize.open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
        raise CannotCheck(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _translate(src: Path, source: str, hand_edited: bool, target: str = "torch"):
    """The translation of SRC: its code and models; refuses untranslated parts unless hand-edited."""
    from ..api import TranslationError, translate_source

    try:
        result = translate_source(source, target=target, filename=str(src))
    except TranslationError as exc:
        raise CannotCheck(f"{exc.filename}:{exc.line}:{exc.col}: {exc.message}") from None
    if not result.uses_keras:
        raise CannotCheck(f"{src} does not use Keras: nothing to compare")
    todos = [d for d in result.diagnostics if d.severity in ("todo", "error")]
    if todos and not hand_edited:
        first = todos[0].render()
        more = f" (and {len(todos) - 1} more)" if len(todos) > 1 else ""
        raise CannotCheck(f"the translation has untranslated parts, so it cannot run: {first}{more}")
    return result


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _emit(result, source: str, json_path: Path | None, junit_path: Path | None) -> int:
    from .report import render_json, render_junit, render_text

    click.echo(render_text(result, source), nl=False)
    if json_path is not None:
        _write(json_path, render_json(result, source))
    if junit_path is not None:
        _write(junit_path, render_junit(result, source))
    return result.exit_code


def _cannot_check(message: str, options, source: str, json_path, junit_path) -> int:
    from .check import error_result

    return _emit(error_result(message, options), source, json_path, junit_path)


def parity_result(src: Path, translated: Path | None, target: str, options):
    """The parity check of one script or notebook as a ParityResult (an error result when it
    cannot be checked)."""
    from .check import error_result, run_parity

    try:
        if src.suffix == ".ipynb":
            return _notebook_parity(src, translated, target, options)
        source = _read(src)
        result = _translate(src, source, hand_edited=translated is not None, target=target)
        code = result.code
        if translated is not None:
            code = _read(translated)
            if TODO_MARK in code:
                raise CannotCheck(f"{translated} still has {TODO_MARK} markers: untranslated parts")
        return run_parity(src, code, result.models, options, translated_path=translated)
    except CannotCheck as exc:
        return error_result(str(exc), options)


def _notebook_script(path: Path) -> str:
    from ..notebook import NotebookError, notebook_to_script

    try:
        return notebook_to_script(_read(path), str(path))
    except NotebookError as exc:
        raise CannotCheck(str(exc)) from None


def _notebook_parity(src: Path, translated: Path | None, target: str, options):
    """Runs a notebook's code cells as one script, in a folder that mirrors the notebook's own
    (links, so relative data paths still resolve and nothing is written beside the notebook)."""
    from .check import run_parity

    script = _notebook_script(src)
    result = _translate(src, script, hand_edited=translated is not None, target=target)
    code = result.code
    if translated is not None:
        code = _notebook_script(translated) if translated.suffix == ".ipynb" else _read(translated)
        if TODO_MARK in code:
            raise CannotCheck(f"{translated} still has {TODO_MARK} markers: untranslated parts")
    folder = src.resolve().parent
    with tempfile.TemporaryDirectory(prefix="keras2torch-notebook-") as tmp:
        mirror = Path(tmp)
        for entry in folder.iterdir():
            if entry.name != src.name and not entry.name.startswith("."):
                (mirror / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        script_path = mirror / f"{src.stem}__notebook.py"
        script_path.write_text(script, encoding="utf-8")
        return run_parity(script_path, code, result.models, options)


def parity_options(atol: float = 1e-5, rtol: float = 1e-4, train_steps: int = 1,
                   timeout: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                   keras_backend: str = "tensorflow"):
    from .check import ParityOptions

    return ParityOptions(atol=atol, rtol=rtol, train_steps=train_steps, timeout_s=timeout,
                         memory_mb=memory_mb, keras_backend=keras_backend)


def run_parity_command(src: Path, translated: Path | None = None, target: str = "torch",
                       keras_backend: str = "tensorflow", atol: float = 1e-5, rtol: float = 1e-4,
                       train_steps: int = 1, timeout: float = DEFAULT_TIMEOUT_S,
                       memory_mb: int = DEFAULT_MEMORY_MB, json_path: Path | None = None,
                       junit_path: Path | None = None) -> int:
    """What `keras2torch parity` does; returns the exit status (0 pass, 1 mismatch, 2 cannot check)."""
    options = parity_options(atol, rtol, train_steps, timeout, memory_mb, keras_backend)
    outcome = parity_result(src, translated, target, options)
    return _emit(outcome, str(src), json_path, junit_path)


def run_weights_command(model_file: Path, output: Path, script: Path, translated: Path | None = None,
                        keras_backend: str = "tensorflow", atol: float = 1e-5, rtol: float = 1e-4,
                        timeout: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
                        json_path: Path | None = None) -> int:
    """What `keras2torch weights` does: converts, verifies by a forward comparison, then writes."""
    from .check import ParityOptions, run_parity

    options = ParityOptions(atol=atol, rtol=rtol, train_steps=0, timeout_s=timeout,
                            memory_mb=memory_mb, keras_backend=keras_backend)
    name = model_file.name
    try:
        if not (name.endswith((".keras", ".h5"))):
            raise CannotCheck(f"{model_file}: expected a .keras, .h5 or .weights.h5 file")
        result = _translate(script, _read(script), hand_edited=translated is not None)
        code = _read(translated) if translated is not None else result.code
        output = output.resolve()
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        os.close(fd)
        try:
            outcome = run_parity(script, code, result.models, options, translated_path=translated,
                                 mode="weights", load_weights=model_file,
                                 save_state_dict=Path(tmp))
            if outcome.exit_code == EXIT_PASS and Path(tmp).stat().st_size > 0:
                os.replace(tmp, output)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except CannotCheck as exc:
        return _cannot_check(str(exc), options, str(model_file), json_path, None)
    code = _emit(outcome, str(model_file), json_path, None)
    if code == EXIT_PASS:
        click.echo(f"wrote {output}: a state dict for the translated model, verified by a forward "
                   "comparison")
    else:
        click.echo(f"{output} not written: the converted weights do not reproduce the Keras model")
    return code


def _guard(run) -> int:
    """Runs a command body; an internal failure becomes one line and exit 2, never a traceback."""
    try:
        return run()
    except KeyboardInterrupt:
        click.echo("keras2torch: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, never a traceback
        click.echo(f"keras2torch: internal error [parity] {type(exc).__name__}: {exc} "
                   "(please report this with the script)", err=True)
        return EXIT_CANNOT_CHECK


def run_parity_many(sources: Sequence[Path], translated: Path | None = None,
                    target: str | None = None, keras_backend: str = "tensorflow",
                    atol: float | None = None, rtol: float | None = None,
                    train_steps: int | None = None, timeout: float | None = None,
                    memory_mb: int = DEFAULT_MEMORY_MB, json_path: Path | None = None,
                    junit_path: Path | None = None, markdown_path: Path | None = None,
                    progress: bool | None = None, pyproject: Path | None = None) -> int:
    """`keras2torch parity` on files, notebooks and directories; flags override the settings of
    [tool.keras2torch] in the nearest pyproject.toml. Returns the worst exit status."""
    import json

    from ..config import ConfigError, load_config
    from ..workflow import Progress, progress_enabled
    from .many import FileVerdict, collect_sources, render_junit_many, render_markdown
    from .report import render_json, render_text, to_dict

    try:
        config = load_config(list(sources), pyproject)
    except ConfigError as exc:
        click.echo(f"keras2torch: error [config] {exc}", err=True)
        return EXIT_CANNOT_CHECK
    config = config.with_overrides(target=target, atol=atol, rtol=rtol, timeout=timeout,
                                   train_steps=train_steps)
    options = parity_options(1e-5 if config.atol is None else config.atol,
                             1e-4 if config.rtol is None else config.rtol,
                             1 if config.train_steps is None else config.train_steps,
                             config.timeout or DEFAULT_TIMEOUT_S, memory_mb, keras_backend)
    files, warnings = collect_sources(sources, config)
    for w in warnings:
        click.echo(w, err=True)
    if not files:
        click.echo("keras2torch: no Keras script or notebook to check", err=True)
        return EXIT_CANNOT_CHECK
    if translated is not None and len(files) > 1:
        click.echo("keras2torch: --translated needs exactly one source", err=True)
        return EXIT_CANNOT_CHECK
    bar = Progress(len(files), "keras2torch parity", progress_enabled(progress) and len(files) > 1)
    verdicts = []
    for path in files:
        result = parity_result(path, translated, config.target, options)
        verdicts.append(FileVerdict(str(path), result, result.exit_code))
        bar.clear()
        click.echo(render_text(result, str(path)), nl=False)
        if len(files) > 1:
            click.echo("")
        bar.advance(path.name)
    bar.finish()
    worst = max(v.exit_code for v in verdicts)
    if len(verdicts) > 1:
        passed = sum(1 for v in verdicts if v.exit_code == EXIT_PASS)
        click.echo(f"keras2torch parity: {passed}/{len(verdicts)} file(s) pass")
    if json_path is not None:
        text = (render_json(verdicts[0].result, verdicts[0].path) if len(verdicts) == 1 else
                json.dumps({"files": [to_dict(v.result, v.path) for v in verdicts],
                            "exit_code": worst}, indent=2) + "\n")
        _write(json_path, text)
    if junit_path is not None:
        _write(junit_path, render_junit_many(verdicts))
    if markdown_path is not None:
        _write(markdown_path, render_markdown(verdicts))
    return worst


@click.command("parity")
@click.argument("sources", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--translated", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A translation edited by hand, checked instead of translating SRC again.")
@click.option("--target", type=click.Choice(["torch", "fastai"]), default=None,
              help="Target (default: [tool.keras2torch] target, else torch).")
@click.option("--keras-backend", type=click.Choice(["tensorflow", "torch", "jax"]),
              default="tensorflow", show_default=True, help="Backend the Keras script runs on.")
@click.option("--atol", type=click.FloatRange(min=0), default=None, help="[default: 1e-05]")
@click.option("--rtol", type=click.FloatRange(min=0), default=None, help="[default: 0.0001]")
@click.option("--train-steps", type=click.IntRange(min=0), default=None,
              help="Training steps compared (0: forward pass only).  [default: 1]")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Seconds each script may run.  [default: {DEFAULT_TIMEOUT_S:g}]")
@click.option("--memory-mb", type=click.IntRange(min=0), default=DEFAULT_MEMORY_MB,
              show_default=True, help="Address-space cap per script in MiB (0: none).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as JUnit XML (one test suite per file).")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a Markdown summary (for a CI job summary).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--config", "pyproject", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="pyproject.toml to read [tool.keras2torch] from (default: the nearest above "
                   "the sources).")
def parity_command(sources: tuple[Path, ...], translated: Path | None, target: str | None,
                   keras_backend: str, atol: float | None, rtol: float | None,
                   train_steps: int | None, timeout: float | None, memory_mb: int,
                   json_path: Path | None, junit_path: Path | None, markdown_path: Path | None,
                   progress: bool | None, pyproject: Path | None) -> None:
    """Run each Keras script or notebook and its PyTorch translation; prove they compute the same.

    SOURCES are files or directories (every script or notebook in them that uses Keras). Copies
    the Keras weights into the PyTorch model, compares every layer's output on a training batch
    and on random inputs, then one training step (loss, gradients, optimizer settings, updated
    weights). Exit status: 0 parity holds for every file, 1 a mismatch (the report says where),
    2 could not check.
    """
    sys.exit(_guard(lambda: run_parity_many(
        sources, translated, target, keras_backend, atol, rtol, train_steps, timeout, memory_mb,
        json_path, junit_path, markdown_path, progress, pyproject)))


@click.command("weights")
@click.argument("model_file", metavar="MODEL",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the PyTorch state dict (.pt).")
@click.option("--script", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The Keras script that builds the model.")
@click.option("--translated", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A hand-edited translation of the script to load the weights into.")
@click.option("--keras-backend", type=click.Choice(["tensorflow", "torch", "jax"]),
              default="tensorflow", show_default=True)
@click.option("--atol", type=click.FloatRange(min=0), default=1e-5, show_default=True)
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S,
              show_default=True)
@click.option("--memory-mb", type=click.IntRange(min=0), default=DEFAULT_MEMORY_MB, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def weights_command(model_file: Path, output: Path, script: Path, translated: Path | None,
                    keras_backend: str, atol: float, rtol: float, timeout: float, memory_mb: int,
                    json_path: Path | None) -> None:
    """Convert a trained Keras model (.keras, .h5, .weights.h5) into a PyTorch state dict.

    The state dict loads into the translated script's model; it is written only after a forward
    comparison with the Keras model passes. Exit status as for `parity`.
    """
    sys.exit(_guard(lambda: run_weights_command(
        model_file, output, script, translated, keras_backend, atol, rtol, timeout, memory_mb,
        json_path)))
