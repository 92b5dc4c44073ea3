"""prefect.yaml declares a real, loadable, cron-scheduled deployment of the flow."""

import yaml

from tests.conftest import REPO


def test_prefect_yaml_deployment_points_at_the_flow():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (dep,) = spec["deployments"]
    path, func = dep["entrypoint"].split(":")
    assert (REPO / path).is_file()
    from prefect.flows import Flow, load_flow_from_entrypoint

    # The file only re-exports graftline_flows.pipeline: load it the way `prefect deploy` does (no placeholder).
    flow = load_flow_from_entrypoint(f"{REPO / path}:{func}", use_placeholder_flow=False)
    assert isinstance(flow, Flow) and flow.name == "graftline-pipeline"
    assert set(dep["parameters"]) <= set(flow.parameters.properties)
    assert dep["work_pool"]["name"] and dep["schedules"][0]["cron"]
    from prefect.client.schemas.schedules import CronSchedule

    sched = dep["schedules"][0]
    CronSchedule(cron=sched["cron"], timezone=sched["timezone"])  # raises on an invalid cron or timezone
