"""The numpy-only comparison logic of parity, tested on plain arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from translator.parity.compare import (
    FAILED,
    INACCURATE,
    OK,
    UNCHECKED,
    Check,
    LayerRow,
    Tolerance,
    TrainFigure,
    TrainResult,
    check_of,
    compare_arrays,
    compare_scalars,
    decide,
    fmt,
    worst,
)


def test_identical_arrays_are_ok_with_zero_diff():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    diff = compare_arrays(a, a.copy())
    assert diff.status == OK
    assert diff.max_abs == 0 and diff.max_rel == 0 and diff.mismatched == 0
    assert diff.worst_index is None


def test_default_tolerance_is_float32_tight():
    tol = Tolerance()
    assert (tol.atol, tol.rtol) == (1e-5, 1e-4)
    k = np.array([1.0, 0.0], dtype=np.float32)
    assert compare_arrays(k, k + np.float32(9e-6)).ok  # within atol + rtol * |k|
    assert not compare_arrays(k, k + np.float32(2e-4)).ok


def test_rtol_scales_with_the_keras_value():
    k = np.array([1000.0])
    assert compare_arrays(k, k + 0.09).ok  # 1e-5 + 1e-4 * 1000 = 0.10001
    assert compare_arrays(k, k + 0.11).status == INACCURATE


def test_keras_is_the_reference_for_rtol():
    # |t - k| <= atol + rtol * |k|: swapping the sides changes the bound
    assert compare_arrays(np.array([2.0]), np.array([1.0]), Tolerance(0, 0.6)).status == OK
    assert compare_arrays(np.array([1.0]), np.array([2.0]), Tolerance(0, 0.6)).status == INACCURATE


def test_shape_mismatch_fails_and_never_broadcasts():
    diff = compare_arrays(np.zeros((2, 3)), np.zeros((3, 2)))
    assert diff.status == FAILED
    assert "Keras (2, 3), PyTorch (3, 2)" in diff.describe()
    assert compare_arrays(np.zeros((1, 3)), np.zeros(3)).status == FAILED
    assert compare_arrays(np.zeros(1), np.zeros(())).status == FAILED


def test_missing_side_fails():
    assert compare_arrays(None, np.zeros(2)).describe() == "no value on the Keras side"
    assert compare_arrays(np.zeros(2), None).describe() == "no value on the PyTorch side"


def test_worst_element_is_located_with_both_values():
    k = np.zeros((2, 3), dtype=np.float32)
    t = k.copy()
    t[0, 1] = 0.5
    t[1, 2] = 2.0
    diff = compare_arrays(k, t)
    assert diff.status == INACCURATE
    assert diff.mismatched == 2 and diff.size == 6
    assert diff.worst_index == (1, 2)
    assert (diff.keras_value, diff.torch_value) == (0.0, 2.0)
    assert diff.max_abs == 2.0
    assert "at index [1, 2] Keras 0, PyTorch 2" in diff.describe()


def test_nothing_is_averaged_away():
    k = np.zeros(100_000, dtype=np.float32)
    t = k.copy()
    t[12345] = 1e-3  # one bad value among many good ones
    diff = compare_arrays(k, t)
    assert diff.status == INACCURATE and diff.mismatched == 1 and diff.worst_index == (12345,)


def test_order_matters():
    k = np.array([1.0, 2.0, 3.0])
    assert compare_arrays(k, k[::-1].copy()).status == INACCURATE


def test_nan_matches_only_nan_and_inf_only_itself():
    k = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert compare_arrays(k, k.copy()).ok
    diff = compare_arrays(k, np.array([0.0, np.inf, -np.inf, 1.0]))
    assert diff.status == INACCURATE and diff.worst_index == (0,) and math.isinf(diff.max_abs)
    assert compare_arrays(k, np.array([np.nan, -np.inf, -np.inf, 1.0])).status == INACCURATE
    assert compare_arrays(np.array([1.0]), np.array([np.nan])).status == INACCURATE


def test_relative_diff_where_keras_is_zero_is_infinite():
    diff = compare_arrays(np.array([0.0, 1.0]), np.array([1e-9, 1.0]))
    assert diff.ok and diff.max_rel == math.inf


def test_integer_and_bool_arrays_compare_by_value():
    assert compare_arrays(np.array([1, 2, 3]), np.array([1, 2, 3], dtype=np.int32)).ok
    assert not compare_arrays(np.array([True, False]), np.array([True, True])).ok


def test_empty_arrays_of_the_same_shape_are_ok():
    assert compare_arrays(np.zeros((0, 4)), np.zeros((0, 4))).ok


def test_extra_atol_widens_the_bound_element_by_element():
    k = np.zeros(3)
    t = np.array([0.5, 0.5, 0.5])
    assert compare_arrays(k, t, extra_atol=0.6).ok
    diff = compare_arrays(k, t, extra_atol=np.array([0.6, 0.6, 0.1]))
    assert diff.status == INACCURATE and diff.worst_index == (2,)


def test_scalars():
    assert compare_scalars(2.302585, 2.302585).ok
    assert compare_scalars(2.30, 2.45).status == INACCURATE
    assert compare_scalars(None, 1.0).status == FAILED


def test_fmt_never_rounds_a_difference_to_zero():
    assert fmt(0.0) == "0"
    assert fmt(1.2e-9) == "1.20e-09"
    assert fmt(0.25) == "0.25"
    assert fmt(None) == "-"
    assert fmt(math.inf) == "inf"


def test_worst_status():
    assert worst([]) == OK
    assert worst([OK, UNCHECKED]) == UNCHECKED
    assert worst([OK, INACCURATE, UNCHECKED]) == INACCURATE
    assert worst([INACCURATE, FAILED]) == FAILED


def _row(name: str, *diffs) -> LayerRow:
    return LayerRow(name, "Dense", name, tuple(check_of(f"output {i}", d) for i, d in enumerate(diffs)))


def test_row_summary_takes_the_worst_check():
    good = compare_arrays(np.ones(4), np.ones(4))
    bad = compare_arrays(np.ones(4), np.full(4, 1.5))
    row = _row("dense", good, bad)
    assert row.status == INACCURATE
    assert row.max_abs == 0.5
    assert row.keras_shape == (4,) and row.torch_shape == (4,)
    assert row.first_problem().what == "output 1"


def test_verdict_names_the_first_diverging_layer():
    ok = compare_arrays(np.ones(2), np.ones(2))
    bad = compare_arrays(np.ones(2), np.zeros(2))
    rows = [_row("dense", ok), _row("dense_1", bad), _row("dense_2", bad)]
    verdict = decide(rows, None, _row("(model output)", bad))
    assert verdict.status == "fail"
    assert verdict.first_divergence == "dense_1"
    assert "dense_1" in verdict.message and "Keras 1, PyTorch 0" in verdict.message
    assert verdict.max_abs_diff == 1.0


def test_verdict_when_only_the_model_output_differs_points_at_forward():
    ok = compare_arrays(np.ones(2), np.ones(2))
    bad = compare_arrays(np.ones(2), np.zeros(2))
    verdict = decide([_row("dense", ok)], None, _row("(model output)", bad))
    assert verdict.status == "fail" and verdict.first_divergence is None
    assert "forward()" in verdict.message


def test_verdict_when_only_training_differs():
    ok = compare_arrays(np.ones(2), np.ones(2))
    figure = TrainFigure("lr (Keras learning_rate)", "hyperparameter", FAILED, "0.001", "0.01")
    train = TrainResult(1, (TrainFigure("loss", "loss", OK), figure))
    verdict = decide([_row("dense", ok)], train, _row("(model output)", ok))
    assert verdict.status == "fail" and verdict.first_divergence is None
    assert "lr (Keras learning_rate): Keras 0.001, PyTorch 0.01" in verdict.message


def test_verdict_pass_states_what_was_not_compared():
    ok = compare_arrays(np.ones(2), np.ones(2))
    skipped = LayerRow("add", "Add", "add", (Check("output", UNCHECKED, message="several inputs"),))
    verdict = decide([_row("dense", ok), skipped], TrainResult(1, message="no targets"),
                     _row("(model output)", ok))
    assert verdict.status == "pass"
    assert any("add" in n for n in verdict.notes)
    assert any("no targets" in n for n in verdict.notes)


@pytest.mark.parametrize("status", [INACCURATE, FAILED])
def test_any_divergent_training_figure_fails(status):
    train = TrainResult(1, (TrainFigure("gradient dense/kernel", "gradient", status),))
    assert train.first_failure().name == "gradient dense/kernel"
    assert decide([], train).status == "fail"


# --- optimizer bounds (rules/parity.toml through recipes.OptimizerRule) ------------------------

def test_centered_rmsprop_first_step_bound_is_wider():
    from translator.parity.recipes import load_parity_rules

    rule = load_parity_rules().optimizers["RMSprop"]
    plain = rule.step_bound({"rho": 0.8}, 0.001)
    centered = rule.step_bound({"rho": 0.8, "centered": True}, 0.001)
    assert plain == pytest.approx(0.001 / math.sqrt(0.2))
    # torch's first centered step: lr * g / sqrt((1 - rho) g^2 - (1 - rho)^2 g^2) = lr / sqrt(rho (1 - rho))
    assert centered == pytest.approx(0.001 / math.sqrt(0.8 * 0.2))


def test_gradient_noise_allowance_is_the_slope_of_the_normalised_step():
    from translator.parity.recipes import load_parity_rules

    rule = load_parity_rules().optimizers["Nadam"]
    eps, lr = 1e-7, 0.01
    keras_g = np.array([6.631017e-07, 0.5, -3e-9], dtype=np.float32)
    torch_g = np.array([6.556511e-07, 0.5 + 6e-8, 4e-9], dtype=np.float32)
    noise = rule.gradient_noise_bound({"epsilon": eps}, lr, keras_g, torch_g)
    step = lambda g: lr * g / (abs(g) + eps)
    # the measured case (parity fuzz, seed 0, case 106): the allowance covers the step difference
    assert abs(step(float(keras_g[0])) - step(float(torch_g[0]))) <= noise[0] < 2e-4
    # a large gradient: the step hardly depends on g, so almost nothing is allowed
    assert noise[1] < 1e-12
    # signs differ: the slope at zero, lr / eps, bounds it
    assert noise[2] == pytest.approx(2 * lr * 7e-9 / eps, rel=1e-3)
    # an optimizer whose step is not normalised gets no allowance
    assert load_parity_rules().optimizers["SGD"].gradient_noise_bound({}, lr, keras_g, torch_g) == 0.0


def test_a_bias_right_before_batch_norm_is_recognised():
    from translator.parity.check import _bias_before_batch_norm
    from translator.parity.recipes import WeightLink

    def meta(cls, activation, next_class):
        layers = [{"class": "Conv2D", "activation": activation}, {"class": next_class}]
        return {"model": {"class": cls, "layers": layers}}

    bias = WeightLink(0, 1, "bias", "conv2d/bias", "conv2d.bias", None)
    kernel = WeightLink(0, 0, "kernel", "conv2d/kernel", "conv2d.weight", None)
    assert _bias_before_batch_norm(meta("Sequential", "linear", "BatchNormalization"), bias)
    assert not _bias_before_batch_norm(meta("Sequential", "linear", "BatchNormalization"), kernel)
    assert not _bias_before_batch_norm(meta("Sequential", "relu", "BatchNormalization"), bias)
    assert not _bias_before_batch_norm(meta("Sequential", "linear", "Dense"), bias)
    assert not _bias_before_batch_norm(meta("Functional", "linear", "BatchNormalization"), bias)
