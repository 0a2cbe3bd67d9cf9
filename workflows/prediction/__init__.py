"""Predicted-late warnings (issue 17): per-key sketches of step working times learnt
online (``sketch``), the estimator of P(late), likely finish and bottleneck
(``estimator``), and the alert rule and what a completed step teaches (``rule``). Pure."""

from workflows.prediction.estimator import (
    SAMPLES,
    Prediction,
    QuantileCache,
    has_history,
    predict,
    remaining_route,
    sketch_key,
)
from workflows.prediction.rule import (
    ESCALATES_AS,
    PredictionPolicy,
    learnt,
    predicted_mark,
    predicted_mark_of,
    raise_predicted_late,
)
from workflows.prediction.sketch import BUCKETS, Sketch, SketchError

__all__ = [
    "BUCKETS",
    "ESCALATES_AS",
    "SAMPLES",
    "Prediction",
    "PredictionPolicy",
    "QuantileCache",
    "Sketch",
    "SketchError",
    "has_history",
    "learnt",
    "predict",
    "predicted_mark",
    "predicted_mark_of",
    "raise_predicted_late",
    "remaining_route",
    "sketch_key",
]
