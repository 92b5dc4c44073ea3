"""prefect.yaml declares real, loadable deployments: the pipeline (nightly cron, and a trigger on the data sensor's
event) and the data sensor (every few minutes); the init template declares the same."""

import yaml

from tests.conftest import REPO


def _load(path, func):
    from prefect.flows import Flow, load_flow_from_entrypoint

    # The file only re-exports graftline_flows: load it the way `prefect deploy` does (no placeholder).
    flow = load_flow_from_entrypoint(f"{REPO / path}:{func}", use_placeholder_flow=False)
    assert isinstance(flow, Flow)
    return flow


def test_prefect_yaml_deployment_points_at_the_flow():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert set(deps) == {"nightly", "data-sensor"}
    dep = deps["nightly"]
    path, func = dep["entrypoint"].split(":")
    assert (REPO / path).is_file()
    flow = _load(path, func)
    assert flow.name == "graftline-pipeline"
    assert set(dep["parameters"]) <= set(flow.parameters.properties)
    assert dep["work_pool"]["name"] and dep["schedules"][0]["cron"]
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    sched = dep["schedules"][0]
    CronSchedule(cron=sched["cron"], timezone=sched["timezone"])  # raises on an invalid cron or timezone
    (trigger,) = dep["triggers"]
    from graftline_flows.sensor import EVENT

    assert trigger["expect"] == [EVENT] and set(trigger["parameters"]) <= set(flow.parameters.properties)

    sensor = deps["data-sensor"]
    flow = _load(*sensor["entrypoint"].split(":"))
    assert flow.name == "graftline-data-sensor" and set(sensor["parameters"]) <= set(flow.parameters.properties)
    assert IntervalSchedule(interval=sensor["schedules"][0]["interval"]).interval.total_seconds() <= 600


def test_the_init_template_declares_the_same_deployments():
    text = (REPO / "src/graftline/scaffold/templates/prefect.yaml.tmpl").read_text()
    spec = yaml.safe_load(text.replace("{{name}}", "p").replace("{{prefect_version}}", "3"))
    repo = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert spec["deployments"] == repo["deployments"]
