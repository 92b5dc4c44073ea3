"""graftline's orchestration: Prefect runs the pipeline, DVC runs the stages, the ``graftline`` CLI does the work.

Installed with graftline, beside the library and above it: ``pipeline`` (the flow), ``dvc`` (one Prefect task per
DVC stage), ``report`` and ``digest`` (stage outputs as Prefect artifacts), ``registry`` (GTO promotion and
rollback), ``production`` and ``sensor`` (the champion/challenger loop and the data-changed event), ``server`` (a
local Prefect server for one job). The library (``graftline``) never imports this package,
Prefect or DVC. Every project's ``flows/pipeline.py`` (this repository's, and the one ``graftline init`` writes) only
re-exports ``graftline_flows.pipeline``, so Prefect deployments have a file entrypoint.
"""
