"""Picks the support definitions a translated script uses, with what they depend on."""

from __future__ import annotations

import functools
from pathlib import Path

import libcst as cst

from .files import cached

TEMPLATES = Path(__file__).resolve().parent / "templates"


class _Lazy(dict):
    """Template definitions by name, parsed with libcst only when a translation asks for one.

    The template files are scanned with `ast` (fast); each top-level statement keeps its source
    text, with the comments and blank lines before it, until it is first used."""

    def __init__(self, texts: dict[str, str], uses: dict[str, list[str]] | None = None):
        super().__init__(dict.fromkeys(texts))
        self.texts = texts
        self.uses = uses if uses is not None else {}  # definition -> the names it mentions

    def __getitem__(self, name: str) -> cst.BaseStatement:
        stmt = super().__getitem__(name)
        if stmt is None:
            stmt = cst.parse_module(self.texts[name]).body[0]
            super().__setitem__(name, stmt)
        return stmt

    def items(self):  # type: ignore[override]
        return [(name, self[name]) for name in self]

    def values(self):  # type: ignore[override]
        return [self[name] for name in self]


def _statements(text: str):
    """Each top-level statement of a template file: (ast node, its source with the lines before it)."""
    import ast

    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    start = 0
    for node in tree.body:
        end = node.end_lineno or node.lineno
        yield node, "".join(lines[start:end])
        start = end


def _scan(contents: list[bytes]) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """Each template file's definitions and imports by name, as source text (with `ast`), and the
    names each definition mentions (`_names_in_text` of its text)."""
    import ast

    texts: dict[str, str] = {}
    imports: dict[str, str] = {}
    uses: dict[str, list[str]] = {}
    for data in contents:
        text = data.decode("utf-8")
        if "\r" in text:  # as a file read in text mode: universal newlines
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        for node, source in _statements(text):
            name = None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            if name is not None:
                if name in texts:
                    raise ValueError(f"support definition {name} is defined twice")
                texts[name] = source
                uses[name] = sorted(_names_in(node))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    imports[(alias.asname or alias.name).split(".")[0]] = source
    return texts, imports, uses


@functools.cache
def _definitions(target: str) -> tuple[dict[str, cst.BaseStatement], dict[str, cst.BaseStatement]]:
    # torch_support.py first, then its topic files (torch_support_images.py, ...)
    paths = sorted(TEMPLATES.glob(f"{target}_support*.py"), key=lambda p: (len(p.stem), p.stem))
    # the scan is cached on disk (keyed by the templates and this file): ast need not read them
    texts, imports, uses = cached(f"support-{target}", [*paths, Path(__file__)],
                                  lambda contents: _scan(contents[:-1]))
    return _Lazy(texts, uses), _Lazy(imports)


@functools.cache
def _merged(target: str) -> tuple[dict[str, cst.BaseStatement], dict[str, cst.BaseStatement]]:
    """A target's own definitions first, then the torch ones it does not redefine."""
    if target == "torch":
        return _definitions("torch")
    own, own_imports = _definitions(target)
    base, base_imports = _definitions("torch")
    texts = {**own.texts, **{k: v for k, v in base.texts.items() if k not in own.texts}}  # type: ignore[attr-defined]
    uses = {**base.uses, **own.uses}  # type: ignore[attr-defined]
    return _Lazy(texts, uses), _Lazy({**base_imports.texts, **own_imports.texts})  # type: ignore[attr-defined]


def _names_in_text(text: str) -> set[str]:
    """The names a definition's source mentions, read with `ast` (what libcst sees as names: names,
    None/True/False, definition and parameter names, keywords, import names; never the part after
    a dot). A test checks it against a libcst reading of every template definition."""
    import ast

    return _names_in(ast.parse(text))


def _names_in(tree) -> set[str]:
    """The names an `ast` tree mentions, as `_names_in_text` reads them."""
    import ast

    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg) or isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add(node.name.split(".")[0])
            if node.asname:
                names.add(node.asname)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool)):
            names.add(repr(node.value))  # None, True and False are names to libcst
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


@functools.cache
def _uses(target: str, name: str) -> frozenset[str]:
    """The names one support definition reads (read with its template file, and cached)."""
    return frozenset(_merged(target)[0].uses[name])  # type: ignore[attr-defined]


@functools.cache
def text(target: str, name: str) -> str:
    """A support definition's source as the output holds it: the comments and blank lines that
    precede it in its template dropped, one newline at the end."""
    lines = _merged(target)[0].texts[name].splitlines(keepends=True)  # type: ignore[attr-defined]
    start = 0
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith("#")):
        start += 1
    return "".join(lines[start:]).rstrip("\n") + "\n"


def names() -> set[str]:
    return set(_definitions("torch")[0])


def select(target: str, wanted: set[str]) -> tuple[list[str], set[str]]:
    """The support definitions for `wanted` (their source, see `text`), in template order, and the
    import names they need. The output holds them as text: neither parsed nor printed by libcst."""
    defs, imports = _merged(target)
    chosen: set[str] = set()
    todo = [w for w in wanted if w in defs]
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.add(name)
        todo.extend(n for n in _uses(target, name) if n in defs and n not in chosen)
    needed: set[str] = set()
    for name in chosen:
        needed |= {n for n in _uses(target, name) if n in imports}
    return [text(target, name) for name in defs if name in chosen], needed


def import_statement(target: str, name: str) -> cst.BaseStatement:
    return _merged(target)[1][name]
