"""Frame- and file-wise metrics and their aggregation over folds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from speechmusic.errors import ConfigError
from speechmusic.evaluation import (
    aggregate_folds,
    classification_metrics,
    confusion_matrix,
    evaluate_predictions,
    file_probabilities,
    mean_std,
)


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    with pytest.raises(ConfigError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)


def test_per_class_precision_recall_f1():
    m = classification_metrics(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), ["music", "speech"])
    assert m["accuracy"] == 0.75 and m["n"] == 4
    assert m["per_class"]["music"] == {"precision": 1.0, "recall": 2 / 3, "f1": pytest.approx(0.8),
                                       "support": 3}
    assert m["per_class"]["speech"]["precision"] == 0.5 and m["per_class"]["speech"]["recall"] == 1.0
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    never = classification_metrics(np.array([0, 0]), np.array([0, 0]), ["a", "b"])
    assert math.isnan(never["per_class"]["b"]["precision"]) and never["per_class"]["b"]["support"] == 0


def test_file_wise_accuracy_averages_frame_probabilities():
    # clip 0 (class 0): patches 0.6/0.4, 0.3/0.7, 0.9/0.1 -> mean 0.6 -> right, though 1 of 3 patches wrong
    # clip 1 (class 1): 0.55/0.45, 0.2/0.8 -> mean 0.375 -> right
    probs = np.array([[0.6, 0.4], [0.3, 0.7], [0.9, 0.1], [0.55, 0.45], [0.2, 0.8]])
    patch_clip = np.array([0, 0, 0, 1, 1])
    res = evaluate_predictions(probs, patch_labels=np.array([0, 0, 0, 1, 1]), patch_clip=patch_clip,
                               clip_labels=np.array([0, 1, 1]), labels=["m", "s"])
    assert res["frame"]["accuracy"] == pytest.approx(3 / 5)
    assert res["file"]["accuracy"] == 1.0 and res["file"]["n"] == 2  # clip 2 has no patches
    clip_probs, has = file_probabilities(probs, patch_clip, 3)
    np.testing.assert_allclose(clip_probs[0], [0.6, 0.4])
    assert has.tolist() == [True, True, False]


def test_aggregation_over_folds():
    folds = []
    for acc_pred in ([0, 1, 1, 1], [0, 0, 1, 1]):
        folds.append(evaluate_predictions(
            np.eye(2)[acc_pred], patch_labels=np.array([0, 0, 1, 1]), patch_clip=np.array([0, 0, 1, 1]),
            clip_labels=np.array([0, 1]), labels=["m", "s"]))
    agg = aggregate_folds(folds, ["m", "s"])
    assert agg["n_folds"] == 2
    assert agg["frame"]["accuracy"]["mean"] == pytest.approx(0.875)
    assert agg["frame"]["accuracy"]["std"] == pytest.approx(0.125)  # population std
    assert agg["frame"]["confusion"] == [[3, 1], [0, 4]]
    assert agg["frame"]["per_class"]["m"]["recall"]["values"] == [0.5, 1.0]
    assert mean_std([None, float("nan"), 1.0])["n"] == 1


_SKLEARN_CASES = {
    # a constant predictor on a balanced 3-class problem: two classes never predicted
    "constant": ([0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 0, 0]),
    # a class predicted that never occurs, and one that occurs but is never predicted
    "spurious": ([0, 0, 1, 1, 1, 0], [0, 2, 1, 1, 0, 2]),
    "one class never seen nor predicted": ([0, 1, 1, 0], [0, 1, 0, 0]),
}


@pytest.mark.parametrize("case", sorted(_SKLEARN_CASES))
def test_metrics_equal_scikit_learn_over_the_classes_seen(case):
    import warnings

    from sklearn import metrics as skm

    y_true, y_pred = map(np.asarray, _SKLEARN_CASES[case])
    names = ["a", "b", "c", "d"]
    seen = np.union1d(y_true, y_pred)
    m = classification_metrics(y_true, y_pred, names)
    assert m["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert m["confusion"] == skm.confusion_matrix(y_true, y_pred, labels=range(len(names))).tolist()
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=seen, zero_division=0)
    for k, label in enumerate(seen):
        got = m["per_class"][names[label]]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (p[k], r[k], f[k], s[k]))
    for label in set(range(len(names))) - set(seen.tolist()):  # nothing to score: undefined
        got = m["per_class"][names[label]]
        assert math.isnan(got["f1"]) and got["support"] == 0
