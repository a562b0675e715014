"""keras.datasets loaders become numpy readers of Keras' own cache file (planted here, never downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from translator import translate_source

SCRIPT = """from tensorflow import keras
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
print(x_train.shape, y_train.shape, x_test.shape, int(y_test.sum()))
"""


def test_mnist_loader_reads_keras_cache(tmp_path: Path) -> None:
    result = translate_source(SCRIPT)
    imports = [line for line in result.code.splitlines() if line.startswith(("import ", "from "))]
    assert result.todos == 0 and not [line for line in imports if "keras" in line or "tensorflow" in line]
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(home / "datasets" / "mnist.npz", x_train=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
             y_train=np.arange(6), x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.array([3, 4]))
    script = tmp_path / "s.py"
    script.write_text(result.code)
    proc = subprocess.run([sys.executable, str(script)], env={**os.environ, "KERAS_HOME": str(home)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(6, 28, 28) (6,) (2, 28, 28) 7"


def plant_datasets(home: Path) -> None:
    """Small synthetic files where Keras keeps each dataset, in Keras' own formats."""
    import gzip
    import pickle

    rng = np.random.default_rng(1)
    root = home / "datasets"
    (root / "fashion-mnist").mkdir(parents=True)
    for part, n in (("train", 5), ("t10k", 3)):
        with gzip.open(root / "fashion-mnist" / f"{part}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\0" * 8 + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
        with gzip.open(root / "fashion-mnist" / f"{part}-images-idx3-ubyte.gz", "wb") as f:
            f.write(b"\0" * 16 + rng.integers(0, 255, n * 784, dtype=np.uint8).tobytes())
    for folder, inner, files, keys in (
            ("cifar-10-batches-py-target", "cifar-10-batches-py",
             [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], ["labels"]),
            ("cifar-100-python-target", "cifar-100-python", ["train", "test"], ["fine_labels", "coarse_labels"])):
        (root / folder / inner).mkdir(parents=True)
        for name in files:
            batch = {b"data": rng.integers(0, 255, (2, 3072), dtype=np.uint8)}
            batch.update({k.encode(): [int(v) for v in rng.integers(0, 100, 2)] for k in keys})
            (root / folder / inner / name).write_bytes(pickle.dumps(batch))
    np.savez(root / "boston_housing.npz", x=rng.normal(size=(11, 13)), y=rng.normal(size=11))
    seqs = [[int(w) for w in rng.integers(1, 40, rng.integers(3, 12))] for _ in range(9)]
    np.savez(root / "imdb.npz", x_train=np.array(seqs[:5], dtype=object), y_train=np.arange(5) % 2,
             x_test=np.array(seqs[5:], dtype=object), y_test=np.arange(4) % 2)


CALLS = [
    "keras.datasets.fashion_mnist.load_data()",
    "keras.datasets.cifar100.load_data(label_mode='coarse')",
    "keras.datasets.boston_housing.load_data(test_split=0.3)",
    "keras.datasets.imdb.load_data(num_words=20, maxlen=10)",
    "keras.datasets.imdb.load_data(skip_top=3, start_char=None)",
]
DIGEST = """
import hashlib
def digest(value):
    if isinstance(value, (tuple, list)) and not (isinstance(value, list) and value and isinstance(value[0], int)):
        return [digest(v) for v in value]
    a = np.asarray(value)
    if a.dtype == object:
        return [digest(list(map(int, s))) for s in a]
    return [str(a.dtype), list(a.shape), hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]]
"""


def test_dataset_loaders_read_what_keras_reads(tmp_path: Path) -> None:
    """Each translated loader gives arrays identical to Keras' own loader on the same files."""
    home = tmp_path / "keras_home"
    plant_datasets(home)
    env = {**os.environ, "KERAS_HOME": str(home)}
    lines = "\n".join(f"print(json.dumps(digest({call})))" for call in CALLS)
    source = f"import json\nimport numpy as np\nimport keras\n{DIGEST}\n{lines}\n"
    result = translate_source(source)
    assert result.todos == 0 and "import keras" not in result.code
    (tmp_path / "t.py").write_text(result.code)
    ours = subprocess.run([sys.executable, str(tmp_path / "t.py")], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert ours.returncode == 0, ours.stderr[-3000:]
    # Keras itself on the same files: only its download helper is pointed at the planted files
    # (the planted files do not match the real ones' hashes, so Keras would fetch them again).
    keras_side = textwrap.dedent("""
        import os
        import keras
        from keras.src.datasets import boston_housing, cifar10, cifar100, fashion_mnist, imdb
        root = os.path.join(os.environ["KERAS_HOME"], "datasets")
        def local(fname=None, origin=None, **kwargs):
            sub = kwargs.get("cache_subdir", "datasets")
            return os.path.join(os.environ["KERAS_HOME"], sub, fname)
        for module in (boston_housing, cifar10, cifar100, fashion_mnist, imdb):
            module.get_file = local
    """)
    (tmp_path / "k.py").write_text(source.replace("import keras\n", keras_side, 1))
    theirs = subprocess.run([sys.executable, str(tmp_path / "k.py")], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()
    assert len(ours.stdout.splitlines()) == len(CALLS)


def test_cifar10_reader_gives_nhwc_images_and_label_columns(tmp_path: Path) -> None:
    # Keras' own cifar10 reader expects 10,000 rows per file, too big to plant: checked directly.
    import pickle

    home = tmp_path / "keras_home"
    plant_datasets(home)
    result = translate_source("import keras\nimport numpy as np\n(a, b), (c, d) = keras.datasets.cifar10.load_data()\n"
                              "np.savez('out.npz', a=a, b=b, c=c, d=d)\n")
    (tmp_path / "t.py").write_text(result.code)
    proc = subprocess.run([sys.executable, "t.py"], cwd=tmp_path, env={**os.environ, "KERAS_HOME": str(home)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "out.npz")
    root = home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    first = pickle.loads((root / "data_batch_1").read_bytes())
    test = pickle.loads((root / "test_batch").read_bytes())
    assert out["a"].shape == (10, 32, 32, 3) and out["b"].shape == (10, 1) and out["c"].shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(out["a"][:2], first[b"data"].reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(out["d"].ravel(), test[b"labels"])


def test_pad_sequences_matches_keras() -> None:
    cases = ["[[1, 2, 3], [4], []]", "[[1, 2, 3, 4, 5], [6, 7]], maxlen=3",
             "[[1, 2, 3, 4, 5], [6, 7]], maxlen=3, padding='post', truncating='post'",
             "[[1, 2], [3]], maxlen=4, value=-1"]
    source = "import keras\n" + "\n".join(f"print(keras.utils.pad_sequences({c}).tolist())" for c in cases)
    result = translate_source(source)
    assert result.todos == 0
    ours = subprocess.run([sys.executable, "-c", result.code], capture_output=True, text=True,
                          timeout=60, check=False)
    theirs = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                            timeout=120, check=False)
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout
