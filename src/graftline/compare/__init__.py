"""Champion vs challenger: this run's exported model against the one at the registry's ``prod`` stage, paired per
image on today's test split (the images neither model trained or validated on), with an interval and a decision."""

from graftline.compare.stage import run_compare  # noqa: F401
from graftline.compare.stats import decide, paired_delta  # noqa: F401
