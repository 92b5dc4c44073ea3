"""prefect.yaml declares a real, loadable, cron-scheduled deployment of the flow."""

import yaml

from tests.conftest import REPO


def test_prefect_yaml_deployment_points_at_the_flow():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (dep,) = spec["deployments"]
    path, func = dep["entrypoint"].split(":")
    assert (REPO / path).is_file()
    assert f"def {func}(" in (REPO / path).read_text()
    assert dep["work_pool"]["name"] and dep["schedules"][0]["cron"]
    from prefect.client.schemas.schedules import CronSchedule

    sched = dep["schedules"][0]
    CronSchedule(cron=sched["cron"], timezone=sched["timezone"])  # raises on an invalid cron or timezone
