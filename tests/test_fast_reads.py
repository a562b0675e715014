"""Fast reads of libcst trees must agree with the slow ones they replace.

translator/walk.py reads trees without rebuilding them: it must meet the nodes in the order libcst's
own visitors do, and leave out only trivia (whitespace, comments, punctuation). shapes.literal reads
plain literals from the node: it must give what ast.literal_eval gives on the printed code."""

import ast
from pathlib import Path

import libcst as cst
import pytest

from translator import walk
from translator.shapes import code, literal

ROOT = Path(__file__).resolve().parent.parent

EVERY_FORM = '''
import keras as k, numpy as np
from keras.layers import Dense as D, Conv2D
@decorator(1, key=2)
@other
def f(a, /, b: int = 1, *args, c, d=k.layers.Dense(2), **kw) -> "T":
    """doc"""
    global g
    x = D(4)(a) if b else k.layers.Dense(units=3, name=f"d{b!r:>4}")(a)
    y: int = lambda q, *, r=2: q + r
    try:
        z = [i * 2 for i in range(3) if i for j in range(i)]
    except (ValueError, TypeError) as exc:
        raise RuntimeError("no") from exc
    else:
        del x[1:2:3], y
    finally:
        assert a, "msg"
    with open("p") as fh, open("q"):
        w = {key: value for key, value in kw.items()}
    while (n := len(args)) > 0:
        yield n
        await n
    match a:
        case [1, *rest] if rest:
            return {"k": v, **kw}
        case Point(x=0, y=yy) | {"a": 1, **others} as bound:
            return -a ** 2 @ b
        case _:
            return not a and b or c < d <= 3
class C(Base, metaclass=Meta):
    attr: int
    async def m(self, *, k=None):
        async for i in s:
            async with t as u:
                self.v += i
type Alias = list[int]
'''


def _sources():
    yield "every_form", EVERY_FORM
    for path in sorted(ROOT.glob("fixtures/*/input.py")) + sorted((ROOT / "translator" / "templates").glob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text()


class _Record(cst.CSTVisitor):
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.events.append(("visit", id(node)))
        return not isinstance(node, cst.Lambda)  # a visitor that prunes: lambdas' insides are skipped

    def on_leave(self, node: cst.CSTNode) -> None:
        self.events.append(("leave", id(node)))


class _Names(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False


@pytest.mark.parametrize(("name", "source"), list(_sources()), ids=lambda v: v if len(v) < 60 else "")
def test_walk_meets_nodes_as_libcst_does(name: str, source: str) -> None:
    module = cst.parse_module(source)
    theirs, ours = _Record(), _Record()
    module.visit(theirs)
    walk.visit(module, ours)
    kept = {i for _, i in ours.events}
    assert [e for e in theirs.events if e[1] in kept] == ours.events
    # what is left out is trivia: no name, no expression, no statement lies in it
    left_out = {i for _, i in theirs.events} - kept
    seen: dict[int, cst.CSTNode] = {}

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            seen[id(node)] = node
            return True

    module.visit(Collect())
    trivia = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline,
              cst.Comment, cst.Comma, cst.Semicolon, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket,
              cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Colon, cst.AssignEqual,
              cst.Dot, cst.BaseBinaryOp, cst.BaseUnaryOp, cst.BaseBooleanOp, cst.BaseCompOp,
              cst.BaseAugOp, cst.Asynchronous, cst.ParamSlash, cst.ParamStar, cst.ImportStar)
    assert all(isinstance(seen[i], trivia) for i in left_out if i in seen), \
        sorted({type(seen[i]).__name__ for i in left_out if not isinstance(seen[i], trivia)})


@pytest.mark.parametrize(("name", "source"), list(_sources()), ids=lambda v: v if len(v) < 60 else "")
def test_names_used_are_a_visitors_names(name: str, source: str) -> None:
    module = cst.parse_module(source)
    expected = _Names()
    module.visit(expected)
    assert walk.names_used(module) == expected.names
    for stmt in module.body:
        one = _Names()
        stmt.visit(one)
        assert walk.names_used(stmt) == one.names


def test_preorder_prunes_where_told() -> None:
    module = cst.parse_module("a = f(b, g(c))\n")
    every = [n.value for n in walk.preorder(module) if isinstance(n, cst.Name)]
    assert every == ["a", "f", "b", "g", "c"]
    pruned = [n.value for n in walk.preorder(module, lambda n: not isinstance(n, cst.Call))
              if isinstance(n, cst.Name)]
    assert pruned == ["a"]


LITERALS = ["1", "-2", "0x10", "1_000", "2.5e-3", "-1.5", "3j", "'a'", "b'x'", "r'\\d'", "'a' 'b'", "True",
            "None", "(1, 2)", "[1, (2, 3)]", "(1,)", "()", "[]", "x", "(x, 1)", "-x", "not True", "{1: 2}",
            "{1}", "1+2j", "(-1)", "((1, 2))", "[*a]", "f'x'", "-(1)", "+1", "u'x'", "-True", "[1, -2.0]", "...",
            "(f(x), 1)", "a.b", "x[1]", "lambda: 1", "[i for i in y]", "1 if a else 2", "a < b", "(yield)"]


@pytest.mark.parametrize("text", LITERALS)
def test_literal_reads_what_literal_eval_reads(text: str) -> None:
    node = cst.parse_expression(text)
    try:
        expected = ast.literal_eval(code(node))
    except ValueError:
        with pytest.raises(ValueError, match=None) as raised:
            literal(node)
        assert str(raised.value) == code(node)
        return
    value = literal(node)
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(value, (tuple, list)):
        assert [type(v) for v in value] == [type(v) for v in expected]


TEMPLATES = [
    ("torch.manual_seed({s})", {"s": "seed + 1"}),
    ("({a}) * {b}", {"a": "x + 1", "b": "(y)"}),
    ("{a} + {a}", {"a": "f(x)"}),
    ("nn.Sequential(nn.Flatten(), nn.Unflatten(1, {t}))", {"t": "(4, 4)"}),
    ("{f} * self.dense[0].weight.abs().sum()", {"f": "0.01"}),
    ("[{a}, {b}][-1]", {"a": "lambda v: v", "b": "{'k': [1, 2]}"}),
    ("{s}[{i}]", {"s": "x.shape", "i": "-1"}),
]


@pytest.mark.parametrize(("template", "values"), TEMPLATES)
def test_fill_writes_what_libcst_templates_write(template: str, values: dict) -> None:
    from libcst.helpers import parse_template_expression

    nodes = {k: cst.parse_expression(v) for k, v in values.items()}
    ours = walk.fill(template, **nodes)
    theirs = parse_template_expression(template, **nodes)
    assert code(ours) == code(theirs)
    assert ours.deep_equals(theirs)
    copied = [n for n in walk.preorder(ours) if any(n is v for v in nodes.values())]
    assert copied == []  # values are copied in, as libcst does, never shared


def test_fill_refuses_a_value_the_template_does_not_name() -> None:
    with pytest.raises(ValueError, match="missing a reference"):
        walk.fill("f({a})", b=cst.Name("x"))


POSITION_FORMS = [
    "# a header comment\n\nimport keras\n\n\nx = 1; y = f(x,\n    2)\n# before\n@dec\n@other(1)\ndef g(a):\n  if a:\n    return a \\\n      + 1\n  s = '''two\nlines'''\n  return s\nclass C: pass\n# footer\n",
    "import keras\r\nif True:\r\n\tmodel = keras.Sequential([\r\n\t\tkeras.layers.Dense(2),\r\n\t])\r\n",
    EVERY_FORM,
]


_POSITION_SOURCES = POSITION_FORMS + [s for _, s in list(_sources())[1:12]]


@pytest.mark.parametrize("source", _POSITION_SOURCES, ids=[f"source{i}" for i in range(len(_POSITION_SOURCES))])
def test_positions_by_statement_are_libcst_positions(source: str) -> None:
    from libcst.metadata import MetadataWrapper, PositionProvider

    from translator.emit import _positions_by_statement, positions

    module = cst.parse_module(source)
    nodes = list(walk.preorder(module))[1:]
    try:
        ast.parse(source)
    except SyntaxError:  # newer syntax than this Python's, or await outside async: libcst's positions
        assert _positions_by_statement(module, {id(n) for n in nodes}, source) is None
    else:
        assert _positions_by_statement(module, {id(n) for n in nodes}, source) is not None
    full = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    expected = {id(n): (full[n].start.line, full[n].start.column + 1) for n in nodes}
    assert positions(module, nodes, source) == expected
    assert positions(module, nodes[-3:], source) == {id(n): expected[id(n)] for n in nodes[-3:]}


_KERAS_HEAD = ("import numpy as np\nfrom tensorflow import keras\nfrom tensorflow.keras import layers\n"
               "x = np.zeros((4, 3)); y = np.zeros((4, 1))\n"
               "model = keras.Sequential([layers.Dense(1, input_shape=(3,))])\n"
               "model.compile(optimizer='adam', loss='mse')\n")


@pytest.mark.parametrize(("tail", "where"), [
    ("z = keras.ops.foo_bar(x)\n", (7, 5)),
    ("for v in keras.ops.foo_bar(x):\n    pass\n", (7, 10)),
    ("print(1); w = keras.utils.frobnicate(x, y)\n", (7, 15)),
    ("model.fit(x, y, callbacks=[keras.callbacks.TerminateOnNaN(True, 1)])\n", (7, 28)),
])
def test_what_is_left_untranslated_is_reported_where_it_is_written(tail: str, where: tuple[int, int]) -> None:
    """A reference left after a statement was rewritten is reported at its own column in the
    source, not at the start of its line."""
    from translator.api import translate_source
    found = [(d.line, d.col) for d in translate_source(_KERAS_HEAD + tail).diagnostics if d.rule == "untranslated"]
    assert found == [where]
