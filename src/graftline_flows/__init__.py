"""graftline's orchestration: Prefect runs the pipeline, DVC runs the stages, the ``graftline`` CLI does the work.

Installed with graftline, beside the library and above it: ``pipeline`` (the flow), ``dvc`` (one Prefect task per
DVC stage), ``report`` (stage outputs as Prefect artifacts). The library (``graftline``) never imports this package,
Prefect or DVC. Every project's ``flows/pipeline.py`` (this repository's, and the one ``graftline init`` writes) only
re-exports ``graftline_flows.pipeline``, so Prefect deployments have a file entrypoint.
"""
