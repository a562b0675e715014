"""Keras metrics for translated PyTorch scripts: mean metrics as functions of one batch, and the
stateful ones (confusion counts, precision, recall, AUC, RMSE) as objects that accumulate over an
epoch through reset() / update(y_pred, y) / result(), as Keras' metric objects do."""

import torch


def aligned(y_pred, y):
    """Targets lined up with predictions as Keras does (squeeze_or_expand_to_same_rank)."""
    if y.dim() == y_pred.dim() + 1 and y.shape[-1] == 1:
        y = y.squeeze(-1)
    elif y_pred.dim() == y.dim() + 1 and y_pred.shape[-1] == 1:
        y = y.unsqueeze(-1)
    return y_pred, y


def binary_accuracy(y_pred, y, threshold=0.5):
    """Keras' binary_accuracy: the share of outputs on the same side of `threshold` as the target."""
    y_pred, y = aligned(y_pred, y)
    return ((y_pred > threshold).to(y.dtype) == y).float().mean()


def categorical_accuracy(y_pred, y):
    """Keras' categorical_accuracy: argmax of the prediction equals argmax of the one-hot target."""
    return (y_pred.argmax(-1) == y.argmax(-1)).float().mean()


def sparse_categorical_accuracy(y_pred, y):
    """Keras' sparse_categorical_accuracy: argmax of the prediction equals the integer label."""
    labels = y.reshape(y_pred.shape[:-1])
    return (y_pred.argmax(-1).to(labels.dtype) == labels).float().mean()


def in_top_k(y_pred, labels, k):
    """tf.math.in_top_k: fewer than k classes score strictly higher than the label's class (ties count in)."""
    scores = y_pred.reshape(-1, y_pred.shape[-1])
    labels = labels.reshape(-1, 1).long()
    return (scores > scores.gather(1, labels)).sum(1) < k


def top_k_categorical_accuracy(y_pred, y, k=5):
    """Keras' top_k_categorical_accuracy: the one-hot target's class is among the k best scores."""
    return in_top_k(y_pred, y.argmax(-1), k).float().mean()


def sparse_top_k_categorical_accuracy(y_pred, y, k=5, from_sorted_ids=False):
    """Keras' sparse_top_k_categorical_accuracy: the integer label is among the k best scores
    (or, with from_sorted_ids, among the first k ids of each row)."""
    if from_sorted_ids:
        return (y_pred[:, :k] == y.reshape(-1, 1).to(y_pred.dtype)).any(1).float().mean()
    return in_top_k(y_pred, y, k).float().mean()


def mean_absolute_percentage_error(y_pred, y):
    """Keras' mean_absolute_percentage_error: 100 * |y - y_pred| / max(|y|, 1e-7)."""
    y_pred, y = aligned(y_pred, y.float())
    return 100.0 * ((y - y_pred) / y.abs().clamp_min(1e-7)).abs().mean()


def mean_squared_logarithmic_error(y_pred, y):
    """Keras' mean_squared_logarithmic_error, with values below 1e-7 raised to 1e-7."""
    y_pred, y = aligned(y_pred, y.float())
    return (torch.log1p(y_pred.clamp_min(1e-7)) - torch.log1p(y.clamp_min(1e-7))).square().mean()


def divide_no_nan(a, b):
    """a / b, and 0 where b is 0 (Keras' ops.divide_no_nan)."""
    return torch.where(b == 0, torch.zeros_like(a), a / torch.where(b == 0, torch.ones_like(b), b))


def evenly_spaced(thresholds):
    """Keras' is_evenly_distributed_thresholds: 0, 1/(n-1), ..., 1 within 1e-7 (then it buckets)."""
    n = len(thresholds)
    even = torch.arange(n, dtype=torch.float32) / (n - 1) if n >= 3 else None
    return even is not None and torch.allclose(torch.as_tensor(thresholds, dtype=torch.float32), even,
                                               rtol=1e-5, atol=1e-7)


def confusion_counts(y_pred, y, thresholds, evenly=False, multi_label=False):
    """Keras' update_confusion_matrix_variables: true/false positives/negatives at each threshold
    (a prediction is positive when strictly above it), as float32 arrays of shape (thresholds, labels)."""
    y_pred, y = aligned(y_pred.float(), y)
    labels = (y != 0).float()
    if multi_label:
        y_pred, labels = y_pred.reshape(-1, y_pred.shape[-1]), labels.reshape(-1, labels.shape[-1])
    else:
        y_pred, labels = y_pred.reshape(-1, 1), labels.reshape(-1, 1)
    n = len(thresholds)
    if evenly:  # Keras' bucketed form: exact for evenly spaced thresholds, computed in float32 as Keras does
        bucket = torch.ceil(y_pred.clamp(0.0, 1.0) * (n - 1)) - 1
        if thresholds[0] < 0 or thresholds[-1] > 1:
            bucket = bucket.clamp_min(0)
        keep = (bucket >= 0).float()
        index = bucket.clamp_min(0).long()
        per_bucket = [torch.zeros(n, labels.shape[1]).scatter_add_(0, index, w * keep)
                      for w in (labels, 1 - labels)]
        tp, fp = (b.flip(0).cumsum(0).flip(0) for b in per_bucket)
        tn, fn = (1 - labels).sum(0) - fp, labels.sum(0) - tp
        return tp, fp, tn, fn
    positive = y_pred.unsqueeze(0) > torch.as_tensor(thresholds, dtype=torch.float32).reshape(-1, 1, 1)
    truth = labels.bool().unsqueeze(0)
    return ((positive & truth).float().sum(1), (positive & ~truth).float().sum(1),
            (~positive & ~truth).float().sum(1), (~positive & truth).float().sum(1))


def keep_top_k(y_pred, k):
    """Keras' _filter_top_k: scores outside each row's k best become -1e10."""
    mask = torch.zeros_like(y_pred).scatter_(-1, y_pred.topk(k, dim=-1).indices, 1.0)
    return y_pred * mask + -1e10 * (1 - mask)


class ConfusionMetric:
    """A Keras metric built on confusion counts at one or more thresholds, summed over the epoch."""

    direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, default=0.5):
        listed = [default if thresholds is None else thresholds] if not isinstance(thresholds, (list, tuple)) \
            else list(thresholds)
        self.thresholds, self.top_k, self.class_id = listed, top_k, class_id
        self.evenly = evenly_spaced(listed)
        self.reset()

    def reset(self):
        self.tp = self.fp = self.tn = self.fn = torch.zeros(len(self.thresholds))

    def update(self, y_pred, y):
        y_pred, y = aligned(y_pred, y)
        if self.top_k is not None:
            y_pred = keep_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            y_pred, y = y_pred[..., self.class_id], y[..., self.class_id]
        counts = confusion_counts(y_pred, y, self.thresholds, self.evenly)
        self.tp, self.fp, self.tn, self.fn = (old + new.squeeze(-1) for old, new in
                                              zip((self.tp, self.fp, self.tn, self.fn), counts, strict=True))

    def values(self):
        raise NotImplementedError

    def result(self):
        values = self.values()
        return float(values[0]) if len(values) == 1 else values.tolist()


class TruePositives(ConfusionMetric):
    """Keras' TruePositives: predictions above the threshold whose target is positive."""

    direction = None

    def __init__(self, thresholds=None):
        super().__init__(thresholds)

    def values(self):
        return self.tp


class TrueNegatives(ConfusionMetric):
    """Keras' TrueNegatives: predictions at or below the threshold whose target is negative."""

    direction = None

    def __init__(self, thresholds=None):
        super().__init__(thresholds)

    def values(self):
        return self.tn


class FalsePositives(ConfusionMetric):
    """Keras' FalsePositives: predictions above the threshold whose target is negative."""

    direction = None

    def __init__(self, thresholds=None):
        super().__init__(thresholds)

    def values(self):
        return self.fp


class FalseNegatives(ConfusionMetric):
    """Keras' FalseNegatives: predictions at or below the threshold whose target is positive."""

    direction = None

    def __init__(self, thresholds=None):
        super().__init__(thresholds)

    def values(self):
        return self.fn


class Precision(ConfusionMetric):
    """Keras' Precision: tp / (tp + fp) over the epoch (threshold 0.5, or the top_k scores)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None):
        super().__init__(thresholds, top_k, class_id, default=-1e10 if top_k is not None else 0.5)

    def values(self):
        return divide_no_nan(self.tp, self.tp + self.fp)


class Recall(ConfusionMetric):
    """Keras' Recall: tp / (tp + fn) over the epoch (threshold 0.5, or the top_k scores)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None):
        super().__init__(thresholds, top_k, class_id, default=-1e10 if top_k is not None else 0.5)

    def values(self):
        return divide_no_nan(self.tp, self.tp + self.fn)


class AUC:
    """Keras' AUC: confusion counts at `num_thresholds` thresholds over the epoch, and the area
    under the ROC (or PR) curve by Keras' Riemann sum."""

    direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", thresholds=None,
                 multi_label=False, from_logits=False):
        if thresholds is not None:
            inner = sorted(thresholds)
            self.evenly = evenly_spaced([0.0, *inner, 1.0])
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.evenly = True
        self.thresholds = [0.0 - 1e-7, *inner, 1.0 + 1e-7]  # Keras' end points below 0 and above 1
        self.curve, self.summation_method = curve.upper(), summation_method.lower()
        self.multi_label, self.from_logits = multi_label, from_logits
        self.reset()

    def reset(self):
        self.tp = self.fp = self.tn = self.fn = 0.0

    def update(self, y_pred, y):
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        counts = confusion_counts(y_pred, y, self.thresholds, self.evenly, self.multi_label)
        self.tp, self.fp, self.tn, self.fn = (old + new for old, new in
                                              zip((self.tp, self.fp, self.tn, self.fn), counts, strict=True))

    def interpolated_pr_auc(self):
        """Keras' interpolate_pr_auc (Davis & Goadrich 2006): precision interpolated between thresholds."""
        tp, fp, fn = self.tp, self.fp, self.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = divide_no_nan(dtp, dp.clamp_min(0))
        intercept = tp[1:] - slope * p[1:]
        ratio = torch.where((p[:-1] > 0) & (p[1:] > 0), divide_no_nan(p[:-1], p[1:].clamp_min(0)),
                            torch.ones_like(p[1:]))
        return divide_no_nan(slope * (dtp + intercept * ratio.log()), (tp[1:] + fn[1:]).clamp_min(0)).sum(0)

    def result(self):
        if isinstance(self.tp, float):
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            area = self.interpolated_pr_auc()
        else:
            tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
            recall = divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = divide_no_nan(fp, fp + tn), recall
            elif self.curve == "PR":
                x, y = recall, divide_no_nan(tp, tp + fp)
            else:  # PRGAIN
                scale = divide_no_nan(tp + fn, tn + fp)
                recall_gain = torch.where(tp == 0, 0.0, 1.0 - scale * divide_no_nan(fn, tp)).clamp_min(0)
                x, y = recall_gain, torch.where(tp == 0, 1.0, 1.0 - scale * divide_no_nan(fp, tp))
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = torch.minimum(y[:-1], y[1:])
            else:  # majoring
                heights = torch.maximum(y[:-1], y[1:])
            area = ((x[:-1] - x[1:]) * heights).sum(0)
        return float(area.mean())  # one label, or the unweighted mean of the labels' areas


class RootMeanSquaredError:
    """Keras' RootMeanSquaredError: the square root of the epoch's mean squared error."""

    direction = "down"

    def __init__(self):
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def update(self, y_pred, y):
        y_pred, y = aligned(y_pred, y.to(y_pred.dtype))
        errors = (y_pred - y).square()
        per_sample = errors.reshape(len(errors), -1).mean(1) if errors.dim() > 1 else errors
        self.total += float(per_sample.sum())
        self.count += len(per_sample)

    def result(self):
        return float(torch.tensor(self.total / self.count, dtype=torch.float32).sqrt()) if self.count else 0.0


class OutputMetric:
    """A metric of one output of a model with several: Keras logs it as `<output>_<metric>`."""

    def __init__(self, index, metric):
        self.index, self.metric = index, metric

    def __call__(self, y_pred, y):
        return self.metric(y_pred[self.index], y[self.index])


class StatefulOutputMetric(OutputMetric):
    """OutputMetric for a metric that accumulates over the epoch (AUC, Precision, ...)."""

    def update(self, y_pred, y):
        self.metric.update(y_pred[self.index], y[self.index])

    def reset(self):
        self.metric.reset()

    def result(self):
        return self.metric.result()


def output_metric(index, metric):
    """The metric `metric` applied to output `index` of a model with several outputs."""
    return StatefulOutputMetric(index, metric) if hasattr(metric, "update") else OutputMetric(index, metric)
