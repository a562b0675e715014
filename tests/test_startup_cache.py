"""The on-disk cache of parsed rules and template scans: used when fresh, rebuilt when stale or
damaged, skipped when it cannot be written, and never a cause of a different translation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from translator import files

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERAS2TORCH_CACHE_DIR", str(folder))
    monkeypatch.delenv("KERAS2TORCH_NO_CACHE", raising=False)
    return folder


def _counting_build(calls: list[int]):
    def build(contents: list[bytes]) -> dict:
        calls.append(1)
        return {"sizes": [len(c) for c in contents], "text": [c.decode() for c in contents]}
    return build


def test_cache_is_read_when_the_inputs_are_unchanged(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.toml"
    src.write_text("x = 1\n")
    calls: list[int] = []
    first = files.cached("t", [src], _counting_build(calls))
    second = files.cached("t", [src], _counting_build(calls))
    assert first == second == {"sizes": [6], "text": ["x = 1\n"]}
    assert len(calls) == 1
    assert len(list(cache.iterdir())) == 1  # no temporary file is left behind


def test_changed_input_rebuilds(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.toml"
    src.write_text("x = 1\n")
    calls: list[int] = []
    files.cached("t", [src], _counting_build(calls))
    stat = src.stat()
    src.write_text("x = 2\n")  # same size; the time is put back: the content checksum still differs
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert files.cached("t", [src], _counting_build(calls))["text"] == ["x = 2\n"]
    assert len(calls) == 2


def test_added_input_rebuilds(cache: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    calls: list[int] = []
    files.cached("t", [a], _counting_build(calls))
    assert files.cached("t", [a, b], _counting_build(calls))["text"] == ["x = 1\n", "y = 2\n"]
    assert len(calls) == 2


@pytest.mark.parametrize("damage", [b"", b"K2TC", b"garbage" * 10, None])
def test_corrupt_cache_is_rebuilt(cache: Path, tmp_path: Path, damage: bytes | None) -> None:
    src = tmp_path / "a.toml"
    src.write_text("x = 1\n")
    calls: list[int] = []
    files.cached("t", [src], _counting_build(calls))
    (stored,) = cache.iterdir()
    blob = stored.read_bytes()
    stored.write_bytes(blob[:-3] if damage is None else damage)  # None: a torn write
    assert files.cached("t", [src], _counting_build(calls))["text"] == ["x = 1\n"]
    assert len(calls) == 2
    assert files.cached("t", [src], _counting_build(calls))["text"] == ["x = 1\n"]
    assert len(calls) == 2  # repaired


def test_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("KERAS2TORCH_CACHE_DIR", str(blocker / "cache"))
    src = tmp_path / "a.toml"
    src.write_text("x = 1\n")
    calls: list[int] = []
    assert files.cached("t", [src], _counting_build(calls))["text"] == ["x = 1\n"]
    assert files.cached("t", [src], _counting_build(calls))["text"] == ["x = 1\n"]
    assert len(calls) == 2


def test_no_cache_variable_disables_it(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS2TORCH_NO_CACHE", "1")
    src = tmp_path / "a.toml"
    src.write_text("x = 1\n")
    files.cached("t", [src], _counting_build([]))
    assert not cache.exists()


def test_build_errors_propagate_and_are_not_cached(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "a.toml"
    src.write_text("x = \n")

    def build(contents: list[bytes]) -> dict:
        import tomllib

        return tomllib.loads(contents[0].decode())

    for _ in range(2):
        with pytest.raises(ValueError):
            files.cached("t", [src], build)
    assert not cache.exists() or not list(cache.iterdir())


def test_rules_and_templates_are_the_same_from_the_cache(cache: Path) -> None:
    from translator import rules, support

    names = rules._table_names()
    paths = [rules.RULES_DIR / n for n in names]
    fresh = rules._parse_tables(names, [p.read_bytes() for p in paths])
    for _ in range(2):  # written, then read back
        assert files.cached("rules-test", [*paths, Path(rules.__file__)],
                            lambda contents: rules._parse_tables(names, contents[:-1])) == fresh
    templates = sorted(support.TEMPLATES.glob("torch_support*.py"), key=lambda p: (len(p.stem), p.stem))
    scanned = support._scan([p.read_bytes() for p in templates])
    for _ in range(2):
        assert tuple(files.cached("support-test", [*templates, Path(support.__file__)],
                                  lambda contents: support._scan(contents[:-1]))) == scanned


def _translate(env: dict[str, str], tmp_path: Path, name: str) -> str:
    out = tmp_path / name
    src = ROOT / "fixtures" / "cnn_digits" / "input.py"
    subprocess.run([sys.executable, "-m", "translator", "translate", str(src), "-o", str(out)],
                   env=env, capture_output=True, check=False)
    return out.read_text()


def test_translation_is_the_same_with_a_cold_a_warm_and_no_cache(tmp_path: Path) -> None:
    env = {**os.environ, "KERAS2TORCH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("KERAS2TORCH_NO_CACHE", None)
    cold = _translate(env, tmp_path, "cold.py")
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()) == ["rules", "support"]
    warm = _translate(env, tmp_path, "warm.py")
    none = _translate({**env, "KERAS2TORCH_NO_CACHE": "1"}, tmp_path, "none.py")
    assert cold == warm == none == (ROOT / "fixtures" / "cnn_digits" / "expected_torch.py").read_text()


def test_translate_imports_no_parity_code() -> None:
    code = ("import sys; from translator.cli import main; "
            "main(['translate', '-', '--no-progress']); "
            "print([m for m in sys.modules if m.startswith('translator.parity')], file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], input="import keras\n", capture_output=True,
                         text=True, check=False)
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_parity_commands_are_still_listed_and_run(capsys: pytest.CaptureFixture[str]) -> None:
    from translator.cli import main

    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "parity" in listing and "weights" in listing
    assert main(["parity", "--help"]) == 0
    assert "Usage: keras2torch parity" in capsys.readouterr().out


@pytest.mark.parametrize(("fixture", "loaded"), [
    ("cnn_digits", []),
    ("activations_mix", []),
    ("functional_chain", ["translator.graph"]),
    ("subclass_mlp", ["translator.subclass"]),
])
def test_model_forms_load_only_the_code_they_need(fixture: str, loaded: list[str]) -> None:
    """A Sequential script does not load the functional-graph builder or the subclass writer."""
    code = ("import sys; from translator.api import translate_source; "
            f"translate_source(open({str(ROOT / 'fixtures' / fixture / 'input.py')!r}).read()); "
            "print(sorted(m for m in sys.modules if m in ('translator.graph', 'translator.subclass')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == repr(loaded)
