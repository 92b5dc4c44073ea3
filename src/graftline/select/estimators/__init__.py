"""Transferability estimators: score a pretrained candidate from one forward pass over the target data.

One module per estimator, plain numpy in and a float out, the paper and formula in its docstring (tllib's style),
each registering itself with ``@register_estimator`` (registry.py): what it reads (features, or the source head's
probabilities or predicted labels), how to read its number, whether it joins the default ensemble, which ``select``
params tune it. Higher is better for every estimator. LEEP and NCE read the candidate's own source head, which is
why every candidate keeps that head until selection is over.

Adding an estimator: its module here (with its test), one import below, and its name in config/sections.py's
``ESTIMATORS`` (tests/unit/test_estimators.py checks the two agree).
"""

from graftline.select.estimators.registry import (ENSEMBLE, REGISTRY, Estimator, ensemble_members,  # noqa: F401
                                                  option_params, register_estimator, scales, score_all)

# The order of the imports is the order of the score columns in reports/selection.json.
from graftline.select.estimators.logme import logme, logme_evidence, logme_per_class  # noqa: E402,F401
from graftline.select.estimators.leep import leep  # noqa: E402,F401
from graftline.select.estimators.nce import nce  # noqa: E402,F401
from graftline.select.estimators.h_score import h_score  # noqa: E402,F401
from graftline.select.estimators.knn import knn_accuracy  # noqa: E402,F401
from graftline.select.estimators.sfda import sfda  # noqa: E402,F401
