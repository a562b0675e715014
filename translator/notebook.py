"""Notebooks: code cells translated in order as one program, markdown kept, outputs cleared.

nbformat is imported only when a notebook is read, so plain translation never needs it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace

from .api import Result, TranslationError, translate_source
from .report import Diagnostic

# Each cell opens with a bare string statement: unlike a comment it is never dropped with a
# removed import, and it splits the translated program back into cells.
CELL_MARK = '"__keras2torch_cell_{n}__"'
CELL_RE = re.compile(r'^"__keras2torch_cell_(\d+)__"\n?', re.MULTILINE)
MAGIC_MARK = "# __keras2torch_magic__ "
MAGIC_RE = re.compile(r"^([ \t]*)# __keras2torch_magic__ (.*)$", re.MULTILINE)


class NotebookError(Exception):
    """The file is not a notebook nbformat can read; the message says why."""


def _nbformat():
    try:
        import nbformat
    except ImportError:  # pragma: no cover - depends on the installation
        raise NotebookError("reading notebooks needs nbformat: pip install nbformat") from None
    return nbformat


def read_notebook(text: str, name: str):
    nbformat = _nbformat()
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a bad file
        raise NotebookError(f"{name}: not a readable notebook: {exc}") from None
    return nb


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped)


@dataclass(frozen=True)
class Program:
    """The code cells joined into one script, and where each of its lines came from."""

    code: str
    origins: tuple[tuple[int, int], ...]  # per program line (1-based): (cell number, cell line)
    opaque: frozenset[int]  # cells kept verbatim (cell magics such as %%bash)


def to_program(nb, marks: bool = True) -> Program:
    """Joins the code cells; IPython magics become comments (restored after translation)."""
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    opaque = set()
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if marks:
            lines.append(CELL_MARK.format(n=number))
            origins.append((number, 0))
        source = cell.source
        if source.lstrip().startswith("%%"):
            opaque.add(number)
            if marks:
                continue
        for i, line in enumerate(source.split("\n"), start=1):
            if _is_magic(line) or number in opaque:
                indent = line[: len(line) - len(line.lstrip())]
                line = f"{indent}{MAGIC_MARK}{line.lstrip()}"
            lines.append(line)
            origins.append((number, i))
    return Program("\n".join(lines) + "\n", tuple(origins), frozenset(opaque))


def notebook_to_script(text: str, name: str = "<notebook>") -> str:
    """A plain script of the notebook's code cells, magics commented out (for running it)."""
    return to_program(read_notebook(text, name), marks=False).code


def _where(program: Program, line: int) -> tuple[int, int]:
    if 1 <= line <= len(program.origins):
        cell, cell_line = program.origins[line - 1]
        return cell, max(cell_line, 1)
    return (program.origins[-1][0] if program.origins else 1), 1


def _remap(d: Diagnostic, program: Program, path: str) -> Diagnostic:
    cell, line = _where(program, d.line)
    return replace(d, path=f"{path}:cell {cell}", line=line)


def translate_notebook(text: str, target: str = "torch", filename: str = "<notebook>") -> Result:
    """Translates a notebook; the result's code is the new notebook (JSON, outputs cleared).

    Diagnostics point at `path:cell N:line:col`, N counting every cell from 1.
    """
    nbformat = _nbformat()
    nb = read_notebook(text, filename)
    program = to_program(nb)
    try:
        result = translate_source(program.code, target=target, filename=filename)
    except TranslationError as exc:
        cell, line = _where(program, exc.line)
        raise TranslationError(exc.message, f"{filename}:cell {cell}", line, exc.col) from None
    if not result.uses_keras:
        return replace(result, code=text)
    cells = _split(result.code)
    out = copy.deepcopy(nb)
    for number, cell in enumerate(out.cells, start=1):
        if cell.cell_type != "code":
            continue
        if number not in program.opaque:
            cell.source = MAGIC_RE.sub(r"\1\2", cells.get(number, "")).rstrip("\n")
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    try:
        nbformat.validate(out)
    except nbformat.ValidationError as exc:  # pragma: no cover - a bug of ours
        raise NotebookError(f"{filename}: the translated notebook is not valid: {exc}") from None
    diagnostics = tuple(_remap(d, program, filename) for d in result.diagnostics)
    return replace(result, code=nbformat.writes(out), diagnostics=diagnostics)


def _split(code: str) -> dict[int, str]:
    """The translated program cut back into cells; what precedes the first mark joins it."""
    parts = CELL_RE.split(code)
    head, rest = parts[0], parts[1:]
    cells: dict[int, str] = {}
    for i in range(0, len(rest), 2):
        cells[int(rest[i])] = rest[i + 1]
    if cells:
        first = min(cells)
        cells[first] = head + cells[first]
    return cells
