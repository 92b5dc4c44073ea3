"""This project's Prefect entrypoints: prefect.yaml deploys ``flows/pipeline.py:pipeline`` and ``:data_sensor``.

The flow is ``graftline_flows.pipeline``, installed with graftline: one Prefect task per DVC stage (only the stale
ones run), each stage's numbers and the run report as artifacts, one run per project at a time (a global concurrency
limit), stopping at the first failed gate. Run it now with ``python flows/pipeline.py [--project DIR] [--pull]
[--push] [--force]`` (or ``python -m graftline_flows.pipeline``); ``graftline init`` writes this same file.
"""

from graftline_flows.pipeline import main, pipeline  # noqa: F401  (pipeline: the entrypoint)
from graftline_flows.sensor import data_sensor  # noqa: F401  (the data-sensor deployment's entrypoint)

if __name__ == "__main__":
    main()
