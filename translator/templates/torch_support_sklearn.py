"""scikit-learn estimators around a function that builds and compiles a translated model: Keras 2's
keras.wrappers.scikit_learn wrappers and SciKeras' scikeras.wrappers, without importing scikit-learn
(it only asks for the estimator tags, and only scikit-learn calls `__sklearn_tags__`)."""

import numpy as np
import torch

from .torch_support import evaluate, fit, predict, predict_classes


def sklearn_arguments(fn, params, skip=("model", "learn", "x", "y")):
    """The entries of `params` that `fn` takes by name (its data arguments aside)."""
    import inspect

    taken = {name for name, p in inspect.signature(fn).parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in skip}
    return {name: value for name, value in params.items() if name in taken}


def trainer_of(model):
    """What the support fit/evaluate/predict take: the model itself, or the Learner it carries."""
    return getattr(model, "learner", model)


def compiled_loss_name(model):
    """The name of the loss the model was compiled with (`categorical_crossentropy`, ...)."""
    loss = getattr(model, "loss_fn", None) or getattr(getattr(model, "learner", None), "loss_func", None)
    loss = getattr(loss, "func", loss)  # a functools.partial of a support loss
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", "")
    return name.removesuffix("_probs")


def sklearn_tags(estimator_type):
    """scikit-learn's tags for a classifier, a regressor, or (None) an estimator of no kind."""
    from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

    return Tags(estimator_type=estimator_type, target_tags=TargetTags(required=True),
                classifier_tags=ClassifierTags() if estimator_type == "classifier" else None,
                regressor_tags=RegressorTags() if estimator_type == "regressor" else None,
                non_deterministic=True)


class KerasWrapper:
    """Keras 2's keras.wrappers.scikit_learn.BaseWrapper: `build_fn` builds and compiles a model;
    `sk_params` holds its arguments and those of fit, predict and evaluate (`epochs`, ...)."""

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def builder(self):
        return self.__call__ if self.build_fn is None else self.build_fn

    def check_params(self, params):
        """Keras 2 refuses a parameter that neither the build function nor fit/predict/evaluate take."""
        import inspect

        legal = set(inspect.signature(self.builder()).parameters) | {"nb_epoch"}
        for fn in (fit, evaluate, predict, predict_classes):
            legal |= set(inspect.signature(fn).parameters) - {"model", "learn", "x", "y"}
        keras_only = {"class_weight", "sample_weight", "steps_per_epoch", "validation_steps", "validation_freq",
                      "validation_batch_size", "max_queue_size", "workers", "use_multiprocessing", "steps"}
        for name in params:
            if name in keras_only and name not in legal:
                raise ValueError(f"{name} is not supported by the PyTorch translation")
            if name not in legal:
                raise ValueError(f"{name} is not a legal parameter")

    def get_params(self, deep=True):
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params):
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn, override=None):
        params = dict(self.sk_params)
        if "nb_epoch" in params:  # the Keras 1 spelling of epochs
            params.setdefault("epochs", params.pop("nb_epoch"))
        return {**sklearn_arguments(fn, params), **(override or {})}

    def fit(self, x, y, **kwargs):
        """Builds a new model and trains it on (x, y); returns the History."""
        self.model = self.builder()(**self.filter_sk_params(self.builder()))
        if compiled_loss_name(self.model) == "categorical_crossentropy" and np.ndim(y) != 2:
            y = np.eye(int(np.max(y)) + 1, dtype="float32")[np.asarray(y, dtype=int)]  # to_categorical
        return fit(trainer_of(self.model), x, y, **self.filter_sk_params(fit, kwargs))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model")

    def __sklearn_tags__(self):
        return sklearn_tags(None)  # Keras 2's wrappers declared no estimator type


class KerasClassifier(KerasWrapper):
    """Keras 2's keras.wrappers.scikit_learn.KerasClassifier."""

    def fit(self, x, y, **kwargs):
        y = np.array(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError("Invalid shape for y: " + str(y.shape))
        self.n_classes_ = len(self.classes_)
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The class labels; shape (n_samples, 1) for a model with one sigmoid unit, as in Keras 2."""
        classes = predict_classes(trainer_of(self.model), x, **self.filter_sk_params(predict_classes, kwargs))
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        """The model's outputs; a one-unit output gives the two columns [1 - p, p]."""
        kwargs = {"verbose": 0, **self.filter_sk_params(predict, kwargs)}  # Keras 2 predicted quietly
        probs = predict(trainer_of(self.model), x, **kwargs)
        return np.hstack([1 - probs, probs]) if probs.shape[1] == 1 else probs

    def score(self, x, y, **kwargs):
        """The accuracy that the model's evaluate reports (it must be compiled with "accuracy")."""
        y = np.searchsorted(self.classes_, y)
        if compiled_loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = np.eye(self.n_classes_, dtype="float32")[y]
        logs = evaluate(trainer_of(self.model), x, y, **self.filter_sk_params(evaluate, kwargs), return_dict=True)
        for name in ("accuracy", "acc"):
            if name in logs:
                return logs[name]
        raise ValueError('The model is not configured to compute accuracy. You should pass '
                         '`metrics=["accuracy"]` to the `model.compile()` method.')


class KerasRegressor(KerasWrapper):
    """Keras 2's keras.wrappers.scikit_learn.KerasRegressor."""

    def predict(self, x, **kwargs):
        kwargs = {"verbose": 0, **self.filter_sk_params(predict, kwargs)}
        preds = np.array(predict(trainer_of(self.model), x, **kwargs))
        return np.squeeze(preds, axis=-1) if preds.shape[-1] == 1 else preds

    def score(self, x, y, **kwargs):
        """The negated loss that the model's evaluate reports."""
        logs = evaluate(trainer_of(self.model), x, y, **self.filter_sk_params(evaluate, kwargs), return_dict=True)
        return -logs["loss"]


class SciKerasWrapper:
    """SciKeras' scikeras.wrappers.BaseWrapper, for a `model` function that builds and compiles a model.

    Parameters of the build function come as `model__name=...` or as extra keywords; fit takes
    `epochs`, `batch_size`, `verbose`, ... (and `fit__name`), predict `batch_size`, `verbose`
    (and `predict__name`)."""

    routing_prefixes = ("model", "fit", "compile", "predict", "optimizer", "loss", "metrics", "callbacks", "score")
    fit_params = ("batch_size", "epochs", "verbose", "validation_split", "shuffle", "callbacks", "initial_epoch",
                  "sample_weight", "class_weight", "validation_batch_size", "validation_steps", "validation_freq")
    predict_params = ("batch_size", "verbose", "steps")

    def __init__(self, model=None, *, build_fn=None, warm_start=False, random_state=None, optimizer="rmsprop",
                 loss=None, metrics=None, batch_size=None, validation_batch_size=None, verbose=1, callbacks=None,
                 validation_split=0.0, shuffle=True, run_eagerly=False, epochs=1, **kwargs):
        self.model = model
        self.build_fn = build_fn
        self.warm_start = warm_start
        self.random_state = random_state
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.batch_size = batch_size
        self.validation_batch_size = validation_batch_size
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.run_eagerly = run_eagerly
        self.epochs = epochs
        vars(self).update(kwargs)
        if kwargs:
            self._user_params = set(kwargs)

    def get_params(self, deep=True):
        """The constructor's parameters and the routed ones (fitted attributes end with `_`)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def set_params(self, **params):
        known = self.get_params()
        for name, value in params.items():
            if name not in known and not any(name.startswith(p + "__") for p in self.routing_prefixes):
                raise ValueError(f"Invalid parameter {name} for estimator {type(self).__name__}. Check the list "
                                 "of available parameters with `estimator.get_params().keys()`")
            setattr(self, name, value)
        return self

    def routed(self, destination, names):
        """SciKeras' route_params: the parameters in `names`, then `destination__name` ones."""
        params = self.get_params()
        out = {k: v for k, v in params.items() if k in names and "__" not in k}
        prefix = destination + "__"
        out.update({k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix) and "__" not in k[len(prefix):]})
        return out

    def metadata(self):
        return {k: v for k, v in vars(self).items() if len(k) > 1 and k.endswith("_") and not k.endswith("__")
                and not k.startswith("_")}

    def build_model(self):
        build = self.model if self.model is not None else self.build_fn
        if build is None:
            raise ValueError("If not using the ``build_fn`` param, you must implement ``_keras_build_fn``")
        if not callable(build):  # an already built model
            return build
        import inspect

        params = self.routed("model", getattr(self, "_user_params", set()))
        accepted = inspect.signature(build).parameters
        takes_all = any(p.kind == p.VAR_KEYWORD for p in accepted.values())
        if "meta" in accepted or takes_all:
            params["meta"] = self.metadata()
        if "params" in accepted or takes_all:
            params["params"] = self.get_params()
        if "compile_kwargs" in accepted:
            raise NotImplementedError("a model function that takes compile_kwargs is not supported by the PyTorch "
                                      "translation: compile the model inside the function")
        return build(**params)

    def describe_target(self, y):
        """Sets what fit learns of the targets (classes_, ...) before the model is built."""

    def encode_target(self, y):
        return y

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Builds a new model (unless warm_start) and trains it on (X, y); returns the estimator."""
        X, y = np.asarray(X), np.asarray(y)
        self.X_shape_, self.X_dtype_, self.n_features_in_ = X.shape, X.dtype, X.shape[1]
        self.y_dtype_, self.y_ndim_ = y.dtype, y.ndim
        self.describe_target(y)
        args = self.routed("fit", self.fit_params)
        args["epochs"] = kwargs.pop("epochs", args.get("epochs", self.epochs))
        args.update(kwargs)
        if sample_weight is not None:
            args["sample_weight"] = sample_weight
        for name in ("batch_size", "validation_batch_size"):
            if args.get(name) == -1:
                args[name] = X.shape[0]
        unsupported = {k: v for k, v in args.items() if v is not None and not sklearn_arguments(fit, {k: v})}
        if unsupported:
            raise NotImplementedError(f"{', '.join(unsupported)} is not supported by the PyTorch translation")
        seeded = self.random_state is not None
        with torch.random.fork_rng(enabled=seeded):
            if seeded:
                torch.manual_seed(int(self.random_state))
            if not (self.warm_start and hasattr(self, "model_")):
                self.model_ = self.build_model()
                if not hasattr(self.model_, "loss_fn") and not hasattr(self.model_, "learner"):
                    raise ValueError("No valid loss function found: compile the model inside the model function")
            history = fit(trainer_of(self.model_), X, self.encode_target(y), **sklearn_arguments(fit, args))
        if not self.warm_start or not hasattr(self, "history_"):
            self.history_ = {}
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(values)
        return self

    def predict_raw(self, X, **kwargs):
        args = {**self.routed("predict", self.predict_params), **kwargs}
        return predict(trainer_of(self.model_), np.asarray(X), **sklearn_arguments(predict, args))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        return sklearn_tags(self._estimator_type)


class SciKerasClassifier(SciKerasWrapper):
    """SciKeras' scikeras.wrappers.KerasClassifier: labels of any kind are encoded as 0..n-1 (one-hot
    for a categorical crossentropy loss); predict gives them back, score is the accuracy."""

    _estimator_type = "classifier"

    def __init__(self, model=None, *, build_fn=None, warm_start=False, random_state=None, optimizer="rmsprop",
                 loss=None, metrics=None, batch_size=None, validation_batch_size=None, verbose=1, callbacks=None,
                 validation_split=0.0, shuffle=True, run_eagerly=False, epochs=1, class_weight=None, **kwargs):
        super().__init__(model, build_fn=build_fn, warm_start=warm_start, random_state=random_state,
                         optimizer=optimizer, loss=loss, metrics=metrics, batch_size=batch_size,
                         validation_batch_size=validation_batch_size, verbose=verbose, callbacks=callbacks,
                         validation_split=validation_split, shuffle=shuffle, run_eagerly=run_eagerly,
                         epochs=epochs, **kwargs)
        self.class_weight = class_weight

    def one_hot_loss(self):
        """Whether targets go in one-hot: the wrapper's loss, else the model's, is a categorical crossentropy."""
        loss = self.loss if self.loss is not None else compiled_loss_name(self.model_)
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
        return name in ("categorical_crossentropy", "CategoricalCrossentropy")

    def describe_target(self, y):
        if y.ndim == 2 and y.shape[1] > 1:  # already one-hot
            self.target_type_ = "multiclass-one-hot"
            self.classes_ = np.arange(y.shape[1])
        else:
            self.classes_ = np.unique(y.reshape(-1))
            self.target_type_ = "binary" if len(self.classes_) <= 2 else "multiclass"
        self.n_classes_ = len(self.classes_)
        self.n_outputs_ = self.n_outputs_expected_ = 1

    def encode_target(self, y):
        if self.target_type_ == "multiclass-one-hot":
            return y.astype("float32")
        codes = np.searchsorted(self.classes_, y.reshape(-1))
        if self.one_hot_loss():
            return np.eye(self.n_classes_, dtype="float32")[codes]
        return codes.astype("float32").reshape(-1, 1)

    def fit(self, X, y, sample_weight=None, **kwargs):
        if self.class_weight is not None:
            raise NotImplementedError("class_weight is not supported by the PyTorch translation")
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def predict_proba(self, X, **kwargs):
        """Class probabilities, one column per class (a sigmoid output gives [1 - p, p])."""
        probs = self.predict_raw(X, **kwargs)
        if probs.ndim == 2 and probs.shape[1] == 1 and self.n_classes_ == 2:
            probs = np.column_stack([1 - probs, probs])
        return probs

    def predict(self, X, **kwargs):
        """Class labels, as the classes given to fit."""
        probs = self.predict_raw(X, **kwargs)
        if self.target_type_ == "multiclass-one-hot":
            return np.eye(probs.shape[1], dtype=int)[probs.argmax(axis=1)]
        if self.n_classes_ == 1:
            return np.full(len(probs), self.classes_[0])
        if probs.shape[1] == 1:
            probs = np.column_stack([1 - probs, probs])
        return self.classes_[probs.argmax(axis=1)]

    def score(self, X, y, sample_weight=None):
        """The accuracy of predict (scikit-learn's accuracy_score)."""
        y, pred = np.asarray(y), self.predict(X)
        hits = np.all(y == pred, axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1) == pred.reshape(-1)
        return float(np.average(hits, weights=sample_weight))


class SciKerasRegressor(SciKerasWrapper):
    """SciKeras' scikeras.wrappers.KerasRegressor: score is the R² of predict."""

    _estimator_type = "regressor"

    def describe_target(self, y):
        self.target_type_ = "continuous" if y.ndim == 1 or y.shape[1] == 1 else "continuous-multioutput"
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self.n_outputs_expected_ = 1

    def predict(self, X, **kwargs):
        preds = self.predict_raw(X, **kwargs)
        return np.squeeze(preds.astype(np.float32 if np.can_cast(self.y_dtype_, np.float32) else np.float64))

    def score(self, X, y, sample_weight=None):
        """scikit-learn's r2_score, averaged over outputs."""
        y = np.asarray(y, dtype=np.float64)
        pred = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
        y2, pred2 = y.reshape(len(y), -1), pred.reshape(len(y), -1)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        residual = (w[:, None] * (y2 - pred2) ** 2).sum(axis=0)
        total = (w[:, None] * (y2 - np.average(y2, axis=0, weights=w)) ** 2).sum(axis=0)
        scores = np.where(total != 0, 1 - residual / np.where(total != 0, total, 1), np.where(residual == 0, 1.0, 0.0))
        return float(scores.mean())
