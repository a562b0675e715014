"""keras.preprocessing.text: the support code against Keras' own Tokenizer and helpers (Keras 3
keeps them under keras.src.legacy), against values worked out from the Keras 2 source, and
translated scripts that use them, run end to end."""

from __future__ import annotations

import ast
import hashlib
import inspect
import os
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source
from translator.cli import main
from translator.names import FRAMEWORK_ROOTS
from translator.rules import RULES_DIR
from translator.templates import torch_support_text as ours

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ("Tokenizer", "tokenizer_from_json", "text_to_word_sequence", "one_hot", "hashing_trick")

CORPUS = [
    "The cat sat on the mat.",
    "The dog ate my homework!",
    "Cat and dog, dog and cat: friends?",
    "A\tnew line\nand tabs -- with-dashes and it's fine",
    "UPPER case Words, lower CASE words",
    "",
    "the the the end",
]
LATER = ["a dog and a bird", "never seen before", "Cat! CAT? cat."]


def _upper_words(text: str) -> list[str]:
    return text.upper().split()


# Tokenizer arguments, each tried against Keras
CONFIGS = {
    "default": {},
    "num_words": {"num_words": 6},
    "oov": {"oov_token": "<OOV>"},
    "num_words_oov": {"num_words": 5, "oov_token": "<OOV>"},
    "oov_is_a_word": {"oov_token": "the"},
    "no_filters": {"lower": False, "filters": "", "split": ","},
    "multi_char_split": {"split": "--", "filters": "!."},
    "char_level": {"char_level": True, "num_words": 12},
    "char_level_oov": {"char_level": True, "lower": False, "oov_token": "#"},
    "analyzer": {"analyzer": _upper_words, "num_words": 9, "oov_token": "?"},
}


@pytest.fixture(scope="module")
def keras_text():
    return pytest.importorskip("keras.src.legacy.preprocessing.text")


def _state(tok) -> dict:
    return {"word_counts": list(tok.word_counts.items()), "word_docs": dict(tok.word_docs),
            "index_docs": dict(tok.index_docs), "word_index": list(tok.word_index.items()),
            "index_word": dict(tok.index_word), "document_count": tok.document_count}


def _outputs(tok, texts) -> dict:
    seqs = tok.texts_to_sequences(texts)
    probes = [*seqs, [0, 1, 2, 3, 99, -1], []]
    out = {"sequences": seqs, "generated": list(tok.texts_to_sequences_generator(iter(texts))),
           "texts": tok.sequences_to_texts(probes)}
    for mode in ("binary", "count", "freq", "tfidf"):
        out[mode] = tok.texts_to_matrix(texts, mode=mode)
        out[f"seq_{mode}"] = tok.sequences_to_matrix(probes, mode=mode)
    return out


def _assert_same(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key


# -- the support code against Keras --------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLIC)
def test_signatures_match_keras(keras_text, name: str) -> None:
    assert inspect.signature(getattr(ours, name)) == inspect.signature(getattr(keras_text, name))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_tokenizer_matches_keras(keras_text, config: str) -> None:
    kwargs = CONFIGS[config]
    theirs, mine = keras_text.Tokenizer(**kwargs), ours.Tokenizer(**kwargs)
    for tok in (theirs, mine):
        tok.fit_on_texts(CORPUS[:4])
        tok.fit_on_texts(iter(CORPUS[4:]))  # fitting again adds to the counts
    assert _state(mine) == _state(theirs)
    _assert_same(_outputs(mine, CORPUS + LATER), _outputs(theirs, CORPUS + LATER))
    assert mine.get_config() == theirs.get_config()
    assert mine.to_json(indent=1) == theirs.to_json(indent=1)


def test_token_lists_and_sequences_match_keras(keras_text) -> None:
    docs = [["Alpha", "beta", "beta"], ["GAMMA", "alpha"], ["beta"]]
    theirs, mine = keras_text.Tokenizer(num_words=3), ours.Tokenizer(num_words=3)
    for tok in (theirs, mine):
        tok.fit_on_texts(docs)
        tok.fit_on_sequences([[1, 2, 2], [3], [1, 5]])
    assert _state(mine) == _state(theirs)
    _assert_same(_outputs(mine, [*docs, ["delta", "alpha"]]), _outputs(theirs, [*docs, ["delta", "alpha"]]))

    theirs, mine = keras_text.Tokenizer(num_words=7), ours.Tokenizer(num_words=7)
    seqs = [[1, 2, 2, 6], [3, 4], [6, 6, 9]]
    for tok in (theirs, mine):
        tok.fit_on_sequences(seqs)
    for mode in ("binary", "count", "freq", "tfidf"):
        np.testing.assert_array_equal(mine.sequences_to_matrix(seqs, mode=mode),
                                      theirs.sequences_to_matrix(seqs, mode=mode))


def test_tokenizer_from_json_matches_keras(keras_text) -> None:
    theirs, mine = keras_text.Tokenizer(num_words=8, oov_token="<OOV>"), ours.Tokenizer(num_words=8, oov_token="<OOV>")
    for tok in (theirs, mine):
        tok.fit_on_texts(CORPUS)
    restored = [ours.tokenizer_from_json(theirs.to_json()), keras_text.tokenizer_from_json(mine.to_json()),
                ours.tokenizer_from_json(mine.to_json())]
    expected = keras_text.tokenizer_from_json(theirs.to_json())
    for tok in restored:
        assert _state(tok) == _state(expected)
        _assert_same(_outputs(tok, LATER), _outputs(expected, LATER))
        assert tok.num_words == 8 and tok.oov_token == "<OOV>"


def test_errors_match_keras(keras_text) -> None:
    for module in (ours, keras_text):
        with pytest.raises(ValueError, match="Specify a dimension"):
            module.Tokenizer().texts_to_matrix(["a b"])
        with pytest.raises(ValueError, match="before using tfidf"):
            module.Tokenizer(num_words=4).sequences_to_matrix([[1]], mode="tfidf")
        tok = module.Tokenizer()
        tok.fit_on_texts(["a b"])
        with pytest.raises(ValueError, match="Unknown vectorization mode"):
            tok.texts_to_matrix(["a"], mode="bm25")
        assert tok.texts_to_matrix([""], mode="bm25").tolist() == [[0.0, 0.0, 0.0]]  # no word, no check
        with pytest.raises(TypeError, match="Unrecognized keyword arguments"):
            module.Tokenizer(num_word=3)
        with pytest.warns(UserWarning, match="renamed `num_words`"):
            assert module.Tokenizer(nb_words=3).num_words == 3
        assert module.Tokenizer(document_count=4).document_count == 4


TEXTS = ["Hello, World! It's a test.", "tabs\tand\nnew-lines", "  spaces   everywhere ", "MiXeD CaSe"]


@pytest.mark.parametrize("kwargs", [{}, {"lower": False}, {"filters": ""}, {"split": "e"}, {"split": ", "}],
                         ids=str)
def test_word_hashing_helpers_match_keras(keras_text, kwargs: dict) -> None:
    for text in TEXTS:
        assert ours.text_to_word_sequence(text, **kwargs) == keras_text.text_to_word_sequence(text, **kwargs)
        # one_hot and the default hash_function use Python's salted `hash`: equal within one process
        assert ours.one_hot(text, 11, **kwargs) == keras_text.one_hot(text, 11, **kwargs)
        assert ours.hashing_trick(text, 11, **kwargs) == keras_text.hashing_trick(text, 11, **kwargs)
        for fn in ("md5", len, _md5_first_byte):
            assert ours.hashing_trick(text, 7, fn, **kwargs) == keras_text.hashing_trick(text, 7, fn, **kwargs)
    assert ours.one_hot("x y", 5, analyzer=_upper_words) == keras_text.one_hot("x y", 5, analyzer=_upper_words)


def _md5_first_byte(word: str) -> int:
    return hashlib.md5(word.encode()).digest()[0]


# -- values worked out from the Keras 2 source (keras_preprocessing/text.py), no Keras needed --------
DOCS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat and dog"]
# counts: the 3, cat 2, sat 1, on 1, mat 1, dog 2, ate 1, my 1, homework 1, and 1; ranked by count,
# ties in order of first appearance
RANKED = ["the", "cat", "dog", "sat", "on", "mat", "ate", "my", "homework", "and"]


def test_tokenizer_values_from_the_keras_2_source() -> None:
    tok = ours.Tokenizer()
    tok.fit_on_texts(DOCS)
    assert tok.word_index == {w: i for i, w in enumerate(RANKED, 1)}
    assert tok.index_word == {i: w for i, w in enumerate(RANKED, 1)}
    assert list(tok.word_counts) == ["the", "cat", "sat", "on", "mat", "dog", "ate", "my", "homework", "and"]
    assert tok.word_docs["the"] == tok.word_docs["cat"] == tok.word_docs["dog"] == 2 and tok.word_docs["my"] == 1
    assert tok.index_docs == {1: 2, 2: 2, 3: 2, **{i: 1 for i in range(4, 11)}} and tok.document_count == 3
    assert tok.texts_to_sequences(["the cat and the bird"]) == [[1, 2, 10, 1]]
    assert tok.sequences_to_texts([[1, 2, 0, 99]]) == ["the cat"]

    x = tok.texts_to_matrix(["the the cat", ""], mode="tfidf")  # (1 + ln tf) * ln(1 + N / (1 + df))
    assert x.shape == (2, 11) and x.dtype == np.float64 and not x[1].any()
    np.testing.assert_allclose(x[0, [1, 2]], [(1 + np.log(2)) * np.log(2), np.log(2)], rtol=1e-15)
    assert tok.texts_to_matrix(["the the cat"], mode="freq")[0, [1, 2]].tolist() == [2 / 3, 1 / 3]
    assert tok.texts_to_matrix(["the the cat"], mode="count")[0].sum() == 3.0

    cut = ours.Tokenizer(num_words=5)  # indexes below 5 are kept, at conversion time
    cut.fit_on_texts(DOCS)
    assert len(cut.word_index) == 10
    assert cut.texts_to_sequences(["the cat and the bird", "dog sat on"]) == [[1, 2, 1], [3, 4]]
    assert cut.texts_to_matrix(["on mat"]).shape == (1, 5)

    oov = ours.Tokenizer(num_words=5, oov_token="<unk>")  # the oov token takes index 1
    oov.fit_on_texts(DOCS)
    assert oov.word_index == {"<unk>": 1, **{w: i for i, w in enumerate(RANKED, 2)}}
    assert oov.texts_to_sequences(["the cat and the bird", "dog sat"]) == [[2, 3, 1, 2, 1], [4, 1]]
    assert oov.sequences_to_texts([[2, 7, 99]]) == ["the <unk> <unk>"]

    chars = ours.Tokenizer(char_level=True)  # characters, lower-cased, nothing filtered
    chars.fit_on_texts(["abba", "A c!"])
    assert chars.word_index == {"a": 1, "b": 2, " ": 3, "c": 4, "!": 5}


def test_word_helper_values_from_the_keras_2_source() -> None:
    assert ours.text_to_word_sequence("Hello, World! It's-a\ttest") == ["hello", "world", "it's", "a", "test"]
    assert ours.text_to_word_sequence("a,b;;c", filters=";", split=",", lower=False) == ["a", "b", "c"]
    words = ["good", "movie"]
    expected = [int(hashlib.md5(w.encode()).hexdigest(), 16) % 9 + 1 for w in words]
    assert ours.hashing_trick("Good movie!", 10, hash_function="md5") == expected
    assert all(1 <= i < 10 for i in ours.one_hot("every word lands in one to n minus one", 10))


def test_support_code_imports_only_stdlib_numpy_and_torch() -> None:
    tree = ast.parse(Path(ours.__file__).read_text())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert roots <= set(sys.stdlib_module_names) | {"numpy", "torch"}, roots


def test_every_rule_names_a_support_definition() -> None:
    with open(RULES_DIR / "utilities_text.toml", "rb") as f:
        rules = tomllib.load(f)["utility"]
    assert {r["support"] for r in rules} == set(PUBLIC)
    assert all(r["legacy"] for r in rules)


# -- translated scripts ---------------------------------------------------------------------------
SPELLINGS = [
    ("from keras.preprocessing.text import Tokenizer\nt = Tokenizer(num_words=5)", "t = Tokenizer(num_words=5)"),
    ("import tensorflow as tf\nt = tf.keras.preprocessing.text.Tokenizer(oov_token='?')",
     "t = Tokenizer(oov_token='?')"),
    ("from tensorflow.keras.preprocessing.text import Tokenizer as Tok\nt = Tok()", "t = Tokenizer()"),
    ("from keras.preprocessing import text\nt = text.Tokenizer(nb_words=5)", "t = Tokenizer(nb_words=5)"),
    ("import keras\nt = keras.preprocessing.text.tokenizer_from_json(s)", "t = tokenizer_from_json(s)"),
    ("from keras.preprocessing.text import one_hot\nt = one_hot(doc, 20)", "t = one_hot(doc, 20)"),
    ("from keras.preprocessing.text import hashing_trick\nt = hashing_trick(doc, 20, 'md5')",
     "t = hashing_trick(doc, 20, 'md5')"),
    ("from tensorflow.keras.preprocessing.text import text_to_word_sequence as words\nt = words(doc)",
     "t = text_to_word_sequence(doc)"),
    ("from keras.src.legacy.preprocessing.text import Tokenizer\nt = Tokenizer(char_level=True)",
     "t = Tokenizer(char_level=True)"),
    ("from keras_preprocessing.text import Tokenizer\nt = Tokenizer(num_words=5)", "t = Tokenizer(num_words=5)"),
]


@pytest.mark.parametrize(("source", "line"), SPELLINGS, ids=[s[0].splitlines()[0] for s in SPELLINGS])
def test_import_spellings_translate(source: str, line: str) -> None:
    if "keras_preprocessing" in source and "keras_preprocessing" not in FRAMEWORK_ROOTS:
        pytest.skip("the keras_preprocessing package is not read as Keras (translator/names.py)")
    result = translate_source(source + "\n")
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert line in result.code.splitlines()
    assert "keras" not in "\n".join(ln for ln in result.code.splitlines() if ln.startswith(("import", "from")))
    compile(result.code, "translated.py", "exec")


KERAS_2_SCRIPT = """\
from keras.preprocessing.text import Tokenizer, text_to_word_sequence, hashing_trick
from keras.preprocessing.sequence import pad_sequences

docs = ["The cat sat on the mat.", "The dog ate my homework!", "Cat and dog"]
tokenizer = Tokenizer(num_words=5, oov_token="<unk>")
tokenizer.fit_on_texts(docs)
sequences = tokenizer.texts_to_sequences(["the cat and the bird", "dog sat"])
padded = pad_sequences(sequences, maxlen=4)
back = tokenizer.sequences_to_texts(sequences)
words = text_to_word_sequence("Hello, World!")
hashed = hashing_trick("good movie", 10, hash_function="md5")
"""


def test_translated_keras_2_script_gives_keras_values(tmp_path: Path) -> None:
    result = translate_source(KERAS_2_SCRIPT)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    script = tmp_path / "text_torch.py"
    script.write_text(result.code)
    ns = runpy.run_path(str(script))
    assert ns["tokenizer"].word_index["<unk>"] == 1 and ns["tokenizer"].word_index["the"] == 2
    assert ns["sequences"] == [[2, 3, 1, 2, 1], [4, 1]]
    assert ns["padded"].tolist() == [[3, 1, 2, 1], [0, 0, 4, 1]]
    assert ns["back"] == ["the cat <unk> the <unk>", "dog <unk>"]
    assert ns["words"] == ["hello", "world"]
    assert ns["hashed"] == [int(hashlib.md5(w.encode()).hexdigest(), 16) % 9 + 1 for w in ("good", "movie")]


UTILITIES_SCRIPT = """\
import numpy as np
import tensorflow as tf
from tensorflow.keras.preprocessing.text import Tokenizer, one_hot

texts = ["Great movie, great cast!", "Boring plot; the cast was fine.", "GREAT fun", "the plot, the cast"]
tokenizer = tf.keras.preprocessing.text.Tokenizer(num_words=6, oov_token="<OOV>")
tokenizer.fit_on_texts(texts)
sequences = tokenizer.texts_to_sequences(texts + ["an unseen review"])
matrices = [tokenizer.texts_to_matrix(texts, mode=m) for m in ("binary", "count", "freq", "tfidf")]
restored = tf.keras.preprocessing.text.tokenizer_from_json(tokenizer.to_json())
restored_sequences = restored.texts_to_sequences(texts)
chars = Tokenizer(char_level=True)
chars.fit_on_texts(texts)
char_sequences = chars.texts_to_sequences(["great"])
hashed = [one_hot(t, 50) for t in texts]
md5 = [tf.keras.preprocessing.text.hashing_trick(t, 50, hash_function="md5") for t in texts]
summary = (tokenizer.word_index, tokenizer.word_counts, dict(tokenizer.word_docs), tokenizer.document_count)
"""


def test_translated_script_matches_keras(keras_text, tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    result = translate_source(UTILITIES_SCRIPT)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    imports = [ln for ln in result.code.splitlines() if ln.startswith(("import ", "from "))]
    assert not [ln for ln in imports if "keras" in ln or "tensorflow" in ln], imports
    (tmp_path / "keras_version.py").write_text(UTILITIES_SCRIPT)
    (tmp_path / "torch_version.py").write_text(result.code)
    theirs = runpy.run_path(str(tmp_path / "keras_version.py"))
    mine = runpy.run_path(str(tmp_path / "torch_version.py"))
    for name in ("sequences", "restored_sequences", "char_sequences", "hashed", "md5", "summary"):
        assert mine[name] == theirs[name], name
    for got, expected in zip(mine["matrices"], theirs["matrices"], strict=True):
        np.testing.assert_array_equal(got, expected)


CLASSIFIER = """\
import numpy as np
import keras
from keras import layers
from tensorflow.keras.preprocessing.text import Tokenizer
from tensorflow.keras.preprocessing.sequence import pad_sequences

rng = np.random.default_rng(0)
good = ["great", "fine", "lovely", "superb", "fun", "moving"]
bad = ["awful", "dull", "poor", "boring", "weak", "messy"]
filler = ["the", "film", "was", "a", "plot", "and", "cast", "really"]
texts, labels = [], []
for i in range(240):
    label = i % 2
    words = list(rng.choice(filler, 5)) + list(rng.choice(good if label else bad, 2))
    rng.shuffle(words)
    texts.append(" ".join(words).capitalize() + "!")
    labels.append(label)
labels = np.array(labels, dtype="float32")

tokenizer = Tokenizer(num_words=20, oov_token="<OOV>")
tokenizer.fit_on_texts(texts[:200])
x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=10, padding="post", truncating="post")
vocab_size = min(len(tokenizer.word_index) + 1, 20)

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(10,)),
    layers.Embedding(vocab_size, 8),
    layers.GlobalAveragePooling1D(),
    layers.Dense(8, activation="relu"),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x[:200], labels[:200], epochs=12, batch_size=16, verbose=0)
loss, accuracy = model.evaluate(x[200:], labels[200:], verbose=0)
probs = model.predict(pad_sequences(tokenizer.texts_to_sequences(["a great and lovely film"]), maxlen=10,
                                    padding="post"), verbose=0)
print("RESULT", {"losses": [float(v) for v in history.history["loss"]], "accuracy": float(accuracy),
                 "prob": float(probs[0, 0]), "vocab": vocab_size, "oov": tokenizer.word_index["<OOV>"]})
"""


def _run_classifier(tmp_path: Path, target: str) -> dict:
    src = tmp_path / "classifier.py"
    src.write_text(CLASSIFIER)
    out = tmp_path / f"classifier_{target}.py"
    assert main(["translate", str(src), "--target", target, "-o", str(out)]) == 0
    code = out.read_text()
    assert "TODO(keras2torch)" not in code and "class Tokenizer" in code
    proc = subprocess.run([sys.executable, str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return ast.literal_eval(line.removeprefix("RESULT "))


@pytest.mark.parametrize("target", ["torch", "fastai"])
def test_text_classifier_translates_and_learns(tmp_path: Path, target: str) -> None:
    pytest.importorskip("torch")
    if target == "fastai":
        pytest.importorskip("fastai")
    result = _run_classifier(tmp_path, target)
    assert result["vocab"] == 20 and result["oov"] == 1
    assert len(result["losses"]) == 12 and result["losses"][-1] < 0.5 * result["losses"][0]
    assert result["accuracy"] >= 0.9 and result["prob"] > 0.5


def test_text_classifier_passes_parity(tmp_path: Path) -> None:
    """The Keras script and its translation: the same padded batch, the same outputs from the same
    weights, and one training step that agrees. (SGD: Adam's first step is the sign of the gradient,
    which for the embedding's near-zero gradients is float noise in either framework.)"""
    pytest.importorskip("keras.src.legacy.preprocessing.text")
    from translator.parity.check import ParityOptions, run_parity
    from translator.parity.report import render_text

    source = CLASSIFIER.replace("keras.optimizers.Adam(0.02)", "keras.optimizers.SGD(0.1)")
    script = tmp_path / "classifier_keras.py"
    script.write_text(source)
    result = translate_source(source, filename=str(script))
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    outcome = run_parity(script, result.code, result.models, ParityOptions())
    assert outcome.verdict.status == "pass", render_text(outcome, str(script))
