"""The `keras2torch parity` and `keras2torch weights` commands (frameworks are imported lazily)."""

from __future__ import annotations

import os
import sys
import tempfile
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


def _translate(src: Path, source: str, hand_edited: bool):
    """The translation of SRC: its code and models; refuses untranslated parts unless hand-edited."""
    from ..api import TranslationError, translate_source

    try:
        result = translate_source(source, target="torch", filename=str(src))
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


def run_parity_command(src: Path, translated: Path | None = None, target: str = "torch",
                       keras_backend: str = "tensorflow", atol: float = 1e-5, rtol: float = 1e-4,
                       train_steps: int = 1, timeout: float = DEFAULT_TIMEOUT_S,
                       memory_mb: int = DEFAULT_MEMORY_MB, json_path: Path | None = None,
                       junit_path: Path | None = None) -> int:
    """What `keras2torch parity` does; returns the exit status (0 pass, 1 mismatch, 2 cannot check)."""
    from .check import ParityOptions, run_parity

    options = ParityOptions(atol=atol, rtol=rtol, train_steps=train_steps, timeout_s=timeout,
                            memory_mb=memory_mb, keras_backend=keras_backend)
    try:
        if target != "torch":
            raise CannotCheck(f"parity for the {target} target is not supported yet")
        source = _read(src)
        result = _translate(src, source, hand_edited=translated is not None)
        code = result.code
        if translated is not None:
            code = _read(translated)
            if TODO_MARK in code:
                raise CannotCheck(f"{translated} still has {TODO_MARK} markers: untranslated parts")
        outcome = run_parity(src, code, result.models, options, translated_path=translated)
    except CannotCheck as exc:
        return _cannot_check(str(exc), options, str(src), json_path, junit_path)
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


@click.command("parity")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--translated", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A translation edited by hand, checked instead of translating SRC again.")
@click.option("--target", type=click.Choice(["torch", "fastai"]), default="torch", show_default=True)
@click.option("--keras-backend", type=click.Choice(["tensorflow", "torch", "jax"]),
              default="tensorflow", show_default=True, help="Backend the Keras script runs on.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-5, show_default=True)
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--train-steps", type=click.IntRange(min=0), default=1, show_default=True,
              help="Training steps compared (0: forward pass only).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S,
              show_default=True, help="Seconds each script may run.")
@click.option("--memory-mb", type=click.IntRange(min=0), default=DEFAULT_MEMORY_MB,
              show_default=True, help="Address-space cap per script in MiB (0: none).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as JSON.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report as JUnit XML.")
def parity_command(src: Path, translated: Path | None, target: str, keras_backend: str,
                   atol: float, rtol: float, train_steps: int, timeout: float, memory_mb: int,
                   json_path: Path | None, junit_path: Path | None) -> None:
    """Run SRC and its PyTorch translation and prove they compute the same thing.

    Copies the Keras weights into the PyTorch model, compares every layer's output on a training
    batch and on random inputs, then one training step (loss, gradients, optimizer settings,
    updated weights). Exit status: 0 parity holds, 1 a mismatch (the report says where), 2 could
    not check.
    """
    sys.exit(_guard(lambda: run_parity_command(
        src, translated, target, keras_backend, atol, rtol, train_steps, timeout, memory_mb,
        json_path, junit_path)))


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
