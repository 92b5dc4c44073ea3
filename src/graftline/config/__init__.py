"""params.yaml, validated.

One pydantic model per stage section. Unknown keys are rejected (a typo such as ``finetune.lrr`` would otherwise be
silently ignored and the run would use the default), and every error names the key, what was given and what is
allowed. ``load_params`` turns pydantic's errors into a single ``ConfigError`` paragraph; the CLI prints it and exits 2.
"""

from graftline.config.adapt import ADAPT_METHODS, AdaptParams  # noqa: F401
from graftline.config.load import format_validation_error, load_params, section_hash  # noqa: F401
from graftline.config.sections import *  # noqa: F401,F403
from graftline.config.sections import (COLOR_MODES, ESTIMATORS, REGULARIZERS, STRATEGIES, CheckParams,  # noqa: F401
                                       CompareParams,
                                       DataParams, DemoParams, ExportParams, FinetuneParams, Params, SelectParams,
                                       ValidateParams, ZooParams)
