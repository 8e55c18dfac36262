"""scikit-learn's estimator checks on the project's estimators (small, fast settings).

Each check that fails by design or by a known non-conformity is declared in ``expected_failed_checks`` with a
one-line reason (pytest reports it as xfail; if it starts passing, it shows as XPASS and the entry can go).
"""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from dwarflib.models import SignalClassifier
from dwarflib.torchnet import TorchMLPClassifier
from dwarflib.verification import ClassCapped

# Known non-conformities shared by the project's estimators (they validate input themselves, with their own words).
COMMON = {
    "check_estimators_unfitted": "predict before fit raises AttributeError, not NotFittedError",
    "check_estimator_sparse_tag": "sparse input is not supported and fails without a 'sparse' message",
    "check_estimator_sparse_array": "sparse input is not supported and fails without a 'sparse' message",
    "check_estimator_sparse_matrix": "sparse input is not supported and fails without a 'sparse' message",
    "check_requires_y_none": "fit(X, None) fails with the estimator's own message, not scikit-learn's",
}

TORCH = {
    **COMMON,
    "check_n_features_in_after_fitting": "predict checks the feature count with its own message wording",
    "check_sample_weight_equivalence_on_dense_data": "stochastic mini-batch training: weight 2 is not a repeated row",
    "check_complex_data": "complex input is cast, not rejected",
    "check_estimators_empty_data_messages": "an empty X is not rejected with scikit-learn's message",
    "check_estimators_nan_inf": "NaN is a valid input (median-imputed with a missing-value indicator)",
    "check_classifier_data_not_an_array": "a DataFrame with integer-like column names is re-indexed by name",
    "check_classifiers_train": "3 epochs on the checks' tiny data do not reach the checks' accuracy floor",
    "check_classifiers_regression_target": "a continuous y is rejected with the estimator's own message",
    "check_supervised_y_2d": "a column-vector y is rejected, not ravelled with a warning",
    "check_class_weight_classifiers": "class_weight is 'balanced' or None only (no per-class dict)",
    "check_fit2d_1sample": "one sample is rejected as 'a single class', not scikit-learn's wording",
    "check_fit2d_predict1d": "a 1-d X is rejected with the estimator's own message",
}

# SignalClassifier enforces the project's label schemes (7-class: 0 = signal must be present and labels 0/1 alone
# look binary; binary: labels 0/1 only), so every check that fits on scikit-learn's generic labels fails by design.
SCHEME = "labels outside the 7-class scheme (signal 0 required; 0/1 alone refused as binary) are rejected by design"
SIGNAL = {
    **COMMON,
    **{name: SCHEME for name in (
        "check_n_features_in_after_fitting", "check_estimators_dtypes", "check_sample_weights_not_an_array",
        "check_sample_weights_shape", "check_sample_weights_not_overwritten",
        "check_all_zero_sample_weights_error", "check_estimators_empty_data_messages",
        "check_pipeline_consistency", "check_estimators_pickle", "check_classifier_data_not_an_array",
        "check_classifiers_train", "check_class_weight_classifiers", "check_fit2d_1sample",
        "check_fit2d_1feature", "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
        "check_dtype_object", "check_classifiers_one_label_sample_weights",
    )},
    "check_sample_weights_pandas_series": "a pandas Series sample_weight fails the scheme check first (labels 1, 2)",
    "check_complex_data": "complex X is refused through the label check, not with 'Complex data not supported'",
    "check_estimators_nan_inf": "NaN is a valid input (passed to the estimator or imputed)",
    "check_classifiers_classes": "string labels are refused: the schemes are integer class numbers",
    "check_classifiers_regression_target": "a continuous y is refused with the scheme's message",
    "check_supervised_y_2d": "a column-vector y is refused, not ravelled with a warning",
    "check_fit2d_predict1d": "a 1-d X is refused with the estimator's own message",
}

CAPPED = {
    **COMMON,
    "check_n_features_in_after_fitting": "n_features_in_ is not set (only the wrapped estimator has it)",
    "check_n_features_in": "n_features_in_ is not set (only the wrapped estimator has it)",
    "check_classifiers_train": "X and y of different lengths are not refused before subsampling",
}

EXPECTED = {TorchMLPClassifier: TORCH, SignalClassifier: SIGNAL, ClassCapped: CAPPED}


def expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED[type(estimator)]


@parametrize_with_checks(
    [
        TorchMLPClassifier(hidden_layers=(8,), max_epochs=3, batch_size=64),
        SignalClassifier(DecisionTreeClassifier(random_state=0)),
        ClassCapped(LogisticRegression()),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
