"""Metrics (frame- and file-wise, over folds) and reports (tables, figures, one HTML page)."""

from speechmusic.evaluation.metrics import (
    aggregate_folds,
    classification_metrics,
    confusion_matrix,
    evaluate_predictions,
    file_probabilities,
    mean_std,
)

__all__ = [
    "aggregate_folds",
    "classification_metrics",
    "confusion_matrix",
    "evaluate_predictions",
    "file_probabilities",
    "mean_std",
    "write_report",
]


def __getattr__(name: str):
    # The report pulls in matplotlib; imported only when asked for.
    if name == "write_report":
        from speechmusic.evaluation.report import write_report

        return write_report
    raise AttributeError(name)
