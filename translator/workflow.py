"""Translating files in bulk: one outcome per file, in parallel processes, with a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .api import TranslationError, translate_source
from .files import SourceError, SourceText, decode_source, is_generated, read_source, to_disk
from .report import TODO, Diagnostic, Stats


@dataclass(frozen=True)
class Outcome:
    """One file's translation as the command line needs it (picklable, no CST inside)."""

    name: str
    code: str = ""  # the text to write, line endings and coding line already applied
    diagnostics: tuple[Diagnostic, ...] = ()
    stats: Stats = field(default_factory=Stats)
    uses_keras: bool = False
    generated: bool = False  # the input itself carries keras2torch's header: never a source
    models: tuple[str, ...] = ()
    error: Diagnostic | None = None

    @property
    def todos(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == TODO)


def _error(name: str, rule: str, message: str, line: int = 1, col: int = 1) -> Outcome:
    return Outcome(name, error=Diagnostic(name, line, col, "error", rule, message))


def translate_text(source: SourceText, name: str, target: str, notebook: bool = False) -> Outcome:
    """Translates one decoded source; errors become an Outcome with `.error`, never an exception."""
    if is_generated(source.text):
        return Outcome(name, code=source.text, generated=True)
    try:
        if notebook:
            from .notebook import NotebookError, translate_notebook

            try:
                result = translate_notebook(source.text, target=target, filename=name)
            except NotebookError as exc:
                return _error(name, "notebook", str(exc))
            code = result.code
        else:
            result = translate_source(source.text, target=target, filename=name)
            code = to_disk(result.code, source.newline) if result.uses_keras else to_disk(
                source.text, source.newline)
    except TranslationError as exc:
        return _error(exc.filename, "syntax", exc.message, exc.line, exc.col)
    except RecursionError:
        return _error(name, "too-deep", "the source nests too deeply to be parsed")
    return Outcome(name, code=code, diagnostics=result.diagnostics, stats=result.stats,
                   uses_keras=result.uses_keras,
                   models=tuple(m.class_name for m in result.models))


def translate_path(path: Path | None, target: str, stdin_text: str | None = None) -> Outcome:
    """Reads and translates one file (None: the text given for stdin)."""
    name = "-" if path is None else str(path)
    try:
        if path is None:
            source = decode_source((stdin_text or "").encode("utf-8"), name)
        else:
            source = read_source(path)
    except SourceError as exc:
        return _error(name, "unreadable", str(exc))
    notebook = path is not None and path.suffix == ".ipynb"
    return translate_text(source, name, target, notebook)


def _work(args: tuple[Path | None, str, str | None]) -> Outcome:
    return translate_path(*args)


def translate_many(paths: Sequence[Path | None], target: str, jobs: int = 1,
                   stdin_text: str | None = None,
                   progress: Progress | None = None) -> Iterator[Outcome]:
    """Outcomes in the order of PATHS; with JOBS > 1 the work runs in that many processes."""
    args = [(p, target, stdin_text if p is None else None) for p in paths]
    if jobs <= 1 or len(args) <= 1:
        for a in args:
            outcome = _work(a)
            if progress:
                progress.advance()
            yield outcome
        return
    workers = min(jobs, len(args), os.cpu_count() or 1) or 1
    from concurrent.futures import ProcessPoolExecutor  # only with -j above 1: it costs an import

    with ProcessPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(_work, args, chunksize=1):
            if progress:
                progress.advance()
            yield outcome


class Progress:
    """A one-line progress bar on a stream (stderr), redrawn in place; silent when disabled."""

    def __init__(self, total: int, label: str, enabled: bool, stream: TextIO | None = None,
                 width: int = 28):
        self.total, self.label, self.enabled = total, label, enabled and total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.width, self.done, self.shown = width, 0, False

    def _draw(self, note: str = "") -> None:
        filled = self.width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}{note}\x1b[K")
        self.stream.flush()
        self.shown = True

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.enabled:
            self._draw(f" {note}" if note else "")

    def clear(self) -> None:
        """Removes the bar before other output is written on the same stream."""
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def echo(self, line: str) -> None:
        """Writes a line above the bar."""
        self.clear()
        self.stream.write(line + "\n")
        if self.enabled and self.done:
            self._draw()

    def finish(self) -> None:
        self.clear()


def progress_enabled(flag: bool | None, stream: TextIO | None = None) -> bool:
    """--progress/--no-progress win; otherwise only when the stream is a terminal."""
    if flag is not None:
        return flag
    stream = stream if stream is not None else sys.stderr
    isatty: Callable[[], bool] | None = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:
        return False
