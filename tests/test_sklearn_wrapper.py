"""scikit-learn wrappers: Keras 2's keras.wrappers.scikit_learn and SciKeras' scikeras.wrappers.

Keras 3 has neither, so the behaviour checked here is the one their sources define: Keras 2's
classifier keeps `classes_` (np.unique of the labels), trains on their indices (one-hot for a
categorical crossentropy loss), predicts `classes_[predict_classes(x)]` (shape (n, 1) for one sigmoid
unit), gives [1 - p, p] from predict_proba for one unit, and scores with the accuracy evaluate
reports; its regressor scores with the negated loss. SciKeras scores with accuracy_score / r2_score
of predict. Scripts are in the style of the public tutorials, on scikit-learn's bundled data."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from translator import translate_source

sklearn = pytest.importorskip("sklearn")

BINARY = '''import numpy
from keras.models import Sequential
from keras.layers import Dense
from keras.wrappers.scikit_learn import KerasClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import cross_val_score


# Function to create model, required for KerasClassifier
def create_model(neurons=8, init='uniform'):
    # create model
    model = Sequential()
    model.add(Dense(neurons, input_dim=8, kernel_initializer=init, activation='relu'))
    model.add(Dense(1, kernel_initializer=init, activation='sigmoid'))
    # Compile model
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


seed = 7
numpy.random.seed(seed)
rng = numpy.random.default_rng(seed)
X = rng.normal(size=(90, 8)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
model = KerasClassifier(build_fn=create_model, epochs=3, batch_size=10, verbose=0)
kfold = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
results = cross_val_score(model, X, Y, cv=kfold)
print(results.mean())
'''

GRID = BINARY.split("model = KerasClassifier")[0] + '''from sklearn.model_selection import GridSearchCV
model = KerasClassifier(build_fn=create_model, verbose=0)
batch_size = [10, 30]
epochs = [1, 2]
neurons = [4, 8]
init = ['glorot_uniform', 'normal']
param_grid = dict(batch_size=batch_size, epochs=epochs, neurons=neurons, init=init)
grid = GridSearchCV(estimator=model, param_grid=param_grid, cv=3)
grid_result = grid.fit(X, Y)
print("Best: %f using %s" % (grid_result.best_score_, grid_result.best_params_))
means = grid_result.cv_results_['mean_test_score']
for mean, param in zip(means, grid_result.cv_results_['params']):
    print("%f with: %r" % (mean, param))
'''

IRIS = '''import numpy
import pandas
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense
from tensorflow.keras.wrappers.scikit_learn import KerasClassifier
from sklearn.datasets import load_iris
from sklearn.model_selection import KFold, cross_val_score

iris = load_iris()
X = iris.data.astype(float)
Y = iris.target_names[iris.target]  # the species names, as read from iris.csv


def baseline_model():
    model = Sequential()
    model.add(Dense(8, input_dim=4, activation='relu'))
    model.add(Dense(3, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


estimator = KerasClassifier(build_fn=baseline_model, nb_epoch=4, batch_size=16, verbose=0)
kfold = KFold(n_splits=3, shuffle=True, random_state=7)
results = cross_val_score(estimator, X, Y, cv=kfold)
print("Baseline: %.2f%% (%.2f%%)" % (results.mean() * 100, results.std() * 100))
'''

REGRESSION = '''import numpy
from keras.models import Sequential
from keras.layers import Dense
from keras.wrappers.scikit_learn import KerasRegressor
from sklearn.datasets import load_diabetes
from sklearn.model_selection import cross_val_score, KFold
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import Pipeline

X, Y = load_diabetes(return_X_y=True)
Y = Y / 100.0


def baseline_model():
    model = Sequential()
    model.add(Dense(10, input_dim=10, kernel_initializer='normal', activation='relu'))
    model.add(Dense(1, kernel_initializer='normal'))
    model.compile(loss='mean_squared_error', optimizer='adam')
    return model


estimators = []
estimators.append(('standardize', StandardScaler()))
estimators.append(('mlp', KerasRegressor(build_fn=baseline_model, epochs=3, batch_size=32, verbose=0)))
pipeline = Pipeline(estimators)
kfold = KFold(n_splits=3)
results = cross_val_score(pipeline, X, Y, cv=kfold)
print("Standardized: %.2f (%.2f) MSE" % (results.mean(), results.std()))
'''


def _translate(source: str, target: str = "torch") -> str:
    result = translate_source(source, target=target)
    assert result.todos == 0, [d.render() for d in result.diagnostics]
    assert "TODO(keras2torch)" not in result.code
    imports = [line.split()[1] for line in result.code.splitlines() if line.startswith(("import ", "from "))]
    assert not [m for m in imports if m.split(".")[0] in ("keras", "tensorflow", "scikeras")], imports
    return result.code


def _width(model) -> int:
    """Units of the model's first Dense layer."""
    import torch

    return next(m for m in model.modules() if isinstance(m, torch.nn.Linear)).out_features


def _run(code: str) -> dict:
    namespace: dict = {"__name__": "__main__"}
    exec(compile(code, "<translation>", "exec"), namespace)  # noqa: S102 - our translation of the test's script
    return namespace


def test_cross_val_score_script_translates_with_exit_0_and_runs(tmp_path: Path) -> None:
    source = tmp_path / "pima_cv.py"
    source.write_text(BINARY)
    out = tmp_path / "pima_cv_torch.py"
    proc = subprocess.run([sys.executable, "-m", "translator", "translate", str(source), "-o", str(out)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    code = out.read_text()
    assert "TODO(keras2torch)" not in code and "class KerasClassifier(KerasWrapper):" in code
    assert "model = KerasClassifier(build_fn=create_model, epochs=3, batch_size=10, verbose=0)" in code
    assert "import sklearn\n" not in code.split("class KerasWrapper")[0]  # the support imports no scikit-learn
    ns = _run(code)
    assert ns["results"].shape == (3,) and all(0.0 <= r <= 1.0 for r in ns["results"])


def test_grid_search_over_fit_and_build_parameters() -> None:
    from sklearn.base import is_classifier

    ns = _run(_translate(GRID))
    grid = ns["grid_result"]
    assert len(grid.cv_results_["params"]) == 16
    assert set(grid.best_params_) == {"batch_size", "epochs", "neurons", "init"}
    best = grid.best_estimator_
    assert best.get_params()["build_fn"] is ns["create_model"]
    assert _width(best.model) == grid.best_params_["neurons"]  # the build function got `neurons`
    # Keras 2's wrappers declared no estimator type: an integer cv gave plain (unstratified) KFold
    assert not is_classifier(ns["model"]) and grid.n_splits_ == 3
    scores = grid.cv_results_["split0_test_score"]
    assert np.all((scores >= 0) & (scores <= 1))


def test_multiclass_labels_are_encoded_as_keras_2_did() -> None:
    ns = _run(_translate(IRIS))
    assert ns["results"].shape == (3,)
    clf = ns["KerasClassifier"](build_fn=ns["baseline_model"], epochs=3, batch_size=16, verbose=0)
    x, y = ns["X"], ns["Y"]
    history = clf.fit(x, y)  # Keras 2 returned the History
    assert len(history.history["loss"]) == 3
    np.testing.assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    assert clf.n_classes_ == 3
    pred, proba = clf.predict(x), clf.predict_proba(x)
    assert pred.shape == (150,) and set(pred) <= set(clf.classes_)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    # score: the accuracy evaluate reports, which counts what predict gets right
    assert clf.score(x, y) == pytest.approx(np.mean(pred == y), abs=1e-6)
    # one-hot targets: classes_ are the columns
    onehot = np.eye(3)[np.searchsorted(clf.classes_, y)]
    clf.fit(x, onehot)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict(x).shape == (150,)


def test_binary_predictions_have_keras_2_shapes() -> None:
    ns = _run(_translate(BINARY))
    x = ns["X"]
    labels = np.where(ns["Y"] == 1, "R", "M")  # sonar's labels, unencoded
    clf = ns["KerasClassifier"](build_fn=ns["create_model"], epochs=2, batch_size=10, verbose=0, neurons=5)
    clf.fit(x, labels)
    np.testing.assert_array_equal(clf.classes_, ["M", "R"])
    pred, proba = clf.predict(x), clf.predict_proba(x)
    assert pred.shape == (90, 1) and set(pred.ravel()) <= {"M", "R"}  # predict_classes of one unit: (n, 1)
    assert proba.shape == (90, 2)
    np.testing.assert_allclose(proba[:, 0], 1 - proba[:, 1], rtol=1e-6)
    np.testing.assert_array_equal(pred[:, 0], np.where(proba[:, 1] > 0.5, "R", "M"))
    assert clf.score(x, labels) == pytest.approx(np.mean(pred[:, 0] == labels), abs=1e-6)


def test_regressor_pipeline_scores_the_negated_loss() -> None:
    from sklearn.preprocessing import StandardScaler

    ns = _run(_translate(REGRESSION))
    results = ns["results"]
    assert results.shape == (3,) and np.all(results < 0)  # negated MSE, as Keras 2 scored
    x = StandardScaler().fit_transform(ns["X"])
    y = ns["Y"]
    reg = ns["KerasRegressor"](build_fn=ns["baseline_model"], epochs=2, batch_size=32, verbose=0)
    reg.fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == (len(y),)
    assert reg.score(x, y) == pytest.approx(-np.mean((pred - y) ** 2), rel=1e-4)


def test_clone_get_params_and_set_params() -> None:
    from sklearn.base import clone

    ns = _run(_translate(BINARY))
    est = ns["KerasClassifier"](build_fn=ns["create_model"], epochs=2, batch_size=10, verbose=0, neurons=[3][0])
    params = est.get_params(deep=True)
    assert params == {"build_fn": ns["create_model"], "epochs": 2, "batch_size": 10, "verbose": 0, "neurons": 3}
    copy = clone(est)
    assert copy is not est and copy.get_params() == params
    assert copy.set_params(epochs=1, init="normal") is copy and copy.get_params()["epochs"] == 1
    assert est.get_params()["epochs"] == 2
    with pytest.raises(ValueError, match="unknown_thing is not a legal parameter"):
        ns["KerasClassifier"](build_fn=ns["create_model"], unknown_thing=1)
    with pytest.raises(ValueError, match="validation_freq is not supported by the PyTorch translation"):
        ns["KerasClassifier"](build_fn=ns["create_model"], validation_freq=2)
    ns["KerasClassifier"](build_fn=ns["create_model"], class_weight={0: 1.0, 1: 2.0})  # fit takes it
    legacy = ns["KerasClassifier"](build_fn=ns["create_model"], nb_epoch=2, verbose=0)  # Keras 1's epochs
    history = legacy.fit(ns["X"], ns["Y"])
    assert len(history.history["loss"]) == 2


def test_support_imports_neither_sklearn_nor_keras() -> None:
    import ast

    from translator.templates import torch_support_sklearn

    tree = ast.parse(Path(torch_support_sklearn.__file__).read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {(node.module or "").split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"numpy", "torch", "torch_support", ""}
    assert not {"sklearn", "keras", "tensorflow"} & top


def test_fastai_translation_runs() -> None:
    pytest.importorskip("fastai")
    code = _translate(BINARY.replace("epochs=3", "epochs=1"), target="fastai")
    assert "learner" in code
    ns = _run(code)
    assert ns["results"].shape == (3,)


# -- SciKeras -----------------------------------------------------------------------------------
SCIKERAS = '''import numpy as np
from tensorflow import keras
from scikeras.wrappers import KerasClassifier, KerasRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, cross_val_score


def get_clf(hidden_layer_dim=8):
    model = keras.Sequential()
    model.add(keras.layers.Dense(hidden_layer_dim, input_dim=30, activation="relu"))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def get_reg(hidden_layer_dim=8):
    model = keras.Sequential()
    model.add(keras.layers.Dense(hidden_layer_dim, input_dim=10, activation="relu"))
    model.add(keras.layers.Dense(1))
    model.compile(loss="mse", optimizer="adam")
    return model


X, y = load_breast_cancer(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)
clf = KerasClassifier(model=get_clf, model__hidden_layer_dim=6, epochs=2, batch_size=32, verbose=0)
gs = GridSearchCV(clf, {"model__hidden_layer_dim": [4, 6], "batch_size": [32, 64]}, cv=2)
gs.fit(X, y)
print(gs.best_score_, gs.best_params_)
Xr, yr = load_diabetes(return_X_y=True)
reg = KerasRegressor(get_reg, hidden_layer_dim=5, epochs=2, verbose=0)
scores = cross_val_score(reg, Xr, yr / 100.0, cv=2)
print(scores)
'''


def _with_scikeras_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The change this translation needs in translator/names.py and rules/names.toml, made here."""
    from translator import api, names
    from translator.rules import load_rules

    roots = (*names.FRAMEWORK_ROOTS, "scikeras")
    monkeypatch.setattr(names, "FRAMEWORK_ROOTS", roots)
    monkeypatch.setattr(api, "FRAMEWORK_ROOTS", roots)
    rules = load_rules()
    prefixes = tuple(sorted((*rules.prefixes, ("scikeras.wrappers.", "keras.wrappers.scikeras.")),
                            key=lambda kv: -len(kv[0])))
    monkeypatch.setattr(api, "load_rules", lambda: dataclasses.replace(rules, prefixes=prefixes))


def test_scikeras_script_translates_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.base import is_classifier, is_regressor

    from translator import names

    if "scikeras" not in names.FRAMEWORK_ROOTS:
        _with_scikeras_names(monkeypatch)
    code = _translate(SCIKERAS)
    assert "SciKerasClassifier(model=get_clf, model__hidden_layer_dim=6" in code
    ns = _run(code)
    gs = ns["gs"]
    assert len(gs.cv_results_["params"]) == 4
    assert _width(gs.best_estimator_.model_) == gs.best_params_["model__hidden_layer_dim"]
    assert is_classifier(ns["clf"]) and is_regressor(ns["reg"])
    assert ns["scores"].shape == (2,)
    assert ns["reg"].get_params()["hidden_layer_dim"] == 5  # an extra keyword reaches the model function


def test_scikeras_imports_resolve_without_patching() -> None:
    assert "SciKerasClassifier(" in _translate(SCIKERAS)


def test_scikeras_support_behaves_as_scikeras() -> None:
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, r2_score

    from translator.templates.torch_support_sklearn import SciKerasClassifier, SciKerasRegressor

    code = _translate(BINARY.split("seed = 7")[0])
    ns = _run(code)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 8)).astype("float32")
    labels = np.where(x[:, 0] > 0, "yes", "no")
    clf = SciKerasClassifier(model=ns["create_model"], model__neurons=5, epochs=2, batch_size=16, verbose=0,
                             random_state=0)
    assert clf.fit(x, labels) is clf  # SciKeras' fit returns the estimator
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    assert _width(clf.model_) == 5 and len(clf.history_["loss"]) == 2
    pred, proba = clf.predict(x), clf.predict_proba(x)
    assert pred.shape == (80,) and proba.shape == (80, 2)  # 1-D labels, unlike Keras 2
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert clf.score(x, labels) == pytest.approx(accuracy_score(labels, pred))
    again = clone(clf).fit(x, labels)  # the same seed trains the same model
    np.testing.assert_allclose(again.predict_proba(x), proba, rtol=1e-5)
    with pytest.raises(ValueError, match="Invalid parameter"):
        clf.set_params(neurons_typo=3)
    assert _width(clf.set_params(model__neurons=7).fit(x, labels).model_) == 7

    y3 = rng.integers(0, 3, 80)  # three classes with a softmax model compiled for categorical crossentropy
    src = (IRIS.split("estimator =")[0].replace("input_dim=4", "input_dim=8")
           .replace("iris = load_iris()\nX = iris.data.astype(float)\nY = iris.target_names[iris.target]", ""))
    ns3 = _run(_translate(src))
    multi = SciKerasClassifier(ns3["baseline_model"], epochs=1, verbose=0).fit(x, y3)
    assert multi.predict(x).shape == (80,) and multi.predict_proba(x).shape == (80, 3)

    xr = rng.normal(size=(60, 10)).astype("float32")
    yr = xr @ rng.normal(size=10)
    reg_ns = _run(_translate(REGRESSION.split("estimators = []")[0]))
    reg = SciKerasRegressor(reg_ns["baseline_model"], epochs=2, verbose=0).fit(xr, yr)
    assert reg.predict(xr).shape == (60,)
    assert reg.score(xr, yr) == pytest.approx(r2_score(yr, reg.predict(xr)), rel=1e-5)


def test_grid_search_over_the_optimizer() -> None:
    """The tutorials' `def create_model(optimizer='adam')`, compiled with `optimizer=optimizer`."""
    src = (BINARY.replace("def create_model(neurons=8, init='uniform'):", "def create_model(optimizer='adam'):")
           .replace("Dense(neurons,", "Dense(8,").replace("kernel_initializer=init, ", "")
           .replace("optimizer='adam', metrics", "optimizer=optimizer, metrics")
           .split("model = KerasClassifier")[0])
    src += ("from sklearn.model_selection import GridSearchCV\n"
            "model = KerasClassifier(build_fn=create_model, epochs=1, batch_size=10, verbose=0)\n"
            "grid = GridSearchCV(estimator=model, param_grid=dict(optimizer=['SGD', 'Adam']), cv=2)\n"
            "grid_result = grid.fit(X, Y)\n")
    ns = _run(_translate(src))
    grid = ns["grid_result"]
    assert [p["optimizer"] for p in grid.cv_results_["params"]] == ["SGD", "Adam"]
    assert type(grid.best_estimator_.model.optimizer).__name__ == grid.best_params_["optimizer"]
