"""`[tool.keras2torch]` settings, read from the nearest pyproject.toml above the sources."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

DEFAULT_SOURCES = ("*_keras.py", "*_keras.ipynb")
DEFAULT_TWIN = "{stem}_{target}{suffix}"
SOURCE_MARK = "_keras"


class ConfigError(Exception):
    """The configuration is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    """Where sources are, how their twins are named, and the defaults of `parity`."""

    target: str = "torch"
    sources: tuple[str, ...] = DEFAULT_SOURCES
    exclude: tuple[str, ...] = ()
    twin: str = DEFAULT_TWIN
    atol: float | None = None
    rtol: float | None = None
    timeout: float | None = None
    train_steps: int | None = None
    path: Path | None = None  # the pyproject.toml it was read from
    root: Path = field(default_factory=Path.cwd)  # patterns are relative to this folder

    def with_overrides(self, **values) -> Config:
        """Flags win over the file: only the values given (not None) replace the file's."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def _relative(self, path: Path) -> str:
        try:
            return PurePosixPath(Path(os.path.abspath(path)).relative_to(self.root)).as_posix()
        except ValueError:
            return Path(path).name

    def _matches(self, path: Path, patterns: tuple[str, ...]) -> bool:
        rel = self._relative(path)
        return any(fnmatch.fnmatchcase(Path(path).name, p) or fnmatch.fnmatchcase(rel, p)
                   for p in patterns)

    def is_source_name(self, path: Path) -> bool:
        """True when PATH's name matches a source pattern and no exclude pattern."""
        return self._matches(path, self.sources) and not self._matches(path, self.exclude)

    def twin_of(self, source: Path, target: str | None = None) -> Path:
        """The twin beside SOURCE: `model_keras.py` -> `model_torch.py` by default."""
        source = Path(source)
        stem = source.stem
        if stem.endswith(SOURCE_MARK) and len(stem) > len(SOURCE_MARK):
            stem = stem[: -len(SOURCE_MARK)]
        name = self.twin.format(stem=stem, target=target or self.target, suffix=source.suffix)
        twin = source.with_name(name)
        if twin == source:
            raise ConfigError(f"twin pattern {self.twin!r} names the source itself for {source}")
        return twin


FIELDS = {"target": str, "sources": list, "exclude": list, "twin": str, "atol": float,
          "rtol": float, "timeout": float, "train_steps": int}


def find_pyproject(paths: list[Path] | tuple[Path, ...]) -> Path | None:
    """The nearest pyproject.toml above the common folder of PATHS (black's rule, not the cwd).

    The search stops at a repository root (a folder holding .git or .hg).
    """
    folders = []
    for p in paths or [Path.cwd()]:
        p = Path(os.path.abspath(p))
        folders.append(p if p.is_dir() else p.parent)
    try:
        start = Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # different drives
        start = folders[0]
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists() or (folder / ".hg").exists():
            return None
    return None


def load_config(paths: list[Path] | tuple[Path, ...] = (), pyproject: Path | None = None) -> Config:
    """The configuration for PATHS: `[tool.keras2torch]` of the nearest pyproject.toml, or defaults."""
    found = pyproject if pyproject is not None else find_pyproject(list(paths))
    if found is None:
        return Config(root=Path.cwd())
    import tomllib

    try:
        with open(found, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{found}: cannot read: {exc}") from None
    table = data.get("tool", {}).get("keras2torch", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{found}: [tool.keras2torch] must be a table")
    values: dict = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        kind = FIELDS.get(key)
        if kind is None:
            known = ", ".join(k.replace("_", "-") for k in FIELDS)
            raise ConfigError(f"{found}: [tool.keras2torch] unknown key {raw_key!r} (known: {known})")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is list and isinstance(value, str):
            value = [value]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{found}: [tool.keras2torch] {raw_key} must be a {kind.__name__}")
        if kind is list:
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{found}: [tool.keras2torch] {raw_key} must list strings")
            value = tuple(value)
        values[key] = value
    if "twin" in values:
        try:
            values["twin"].format(stem="m", target="torch", suffix=".py")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{found}: [tool.keras2torch] twin {values['twin']!r}: unknown field "
                              f"{exc} (use {{stem}}, {{target}}, {{suffix}})") from None
    for key in ("atol", "rtol", "timeout", "train_steps"):
        if key in values and values[key] < 0:
            raise ConfigError(f"{found}: [tool.keras2torch] {key.replace('_', '-')} must be >= 0")
    return Config(path=Path(found), root=Path(os.path.abspath(found)).parent, **values)
