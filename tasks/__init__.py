"""Prefect tasks that drive the pipeline: DVC runs the stages, Prefect observes and schedules them."""
