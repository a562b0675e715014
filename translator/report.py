"""Diagnostics: the one place translation findings are collected and rendered."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR, WARNING, NOTE, TODO = "error", "warning", "note", "todo"


@dataclass(frozen=True)
class Diagnostic:
    """One finding, pointed at `path:line:col` (1-based line, 1-based column)."""

    path: str
    line: int
    col: int
    severity: str  # error | todo | warning | note
    rule: str
    message: str

    def render(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.severity} [{self.rule}] {self.message}"


@dataclass(frozen=True)
class Stats:
    """What one file's translation covered: layers and calls translated, items left."""

    layers: int = 0
    calls: int = 0
    left: int = 0

    def __add__(self, other: Stats) -> Stats:
        return Stats(self.layers + other.layers, self.calls + other.calls, self.left + other.left)

    @property
    def rate(self) -> float:
        done = self.layers + self.calls
        return 1.0 if done + self.left == 0 else done / (done + self.left)


def summary_line(files: int, stats: Stats) -> str:
    return (f"keras2torch: {files} file(s), {stats.layers} layer(s) and {stats.calls} call(s) "
            f"translated, {stats.left} item(s) left, conversion rate {stats.rate:.0%}")


def to_json(files: list[dict], stats: Stats, exit_code: int) -> str:
    import json

    return json.dumps({
        "files": files,
        "summary": {**asdict(stats), "conversion_rate": round(stats.rate, 4), "exit_code": exit_code},
    }, indent=2)
