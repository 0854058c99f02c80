"""`show_job` and `show_job_progress` through the official SDK (`huaweicloudsdkims`
`ImsClient`, AK/SK) against a server process with authentication on, on SQLite and PostgreSQL:
the parsed `ShowJobResponse` / `ShowJobProgressResponse` of a job the server ran, and the SDK's
view of an unknown or another project's job (docs/jobs.md). The job is of the servers' test
type (`OPENIMS_TEST_JOBS`), written into the database by the test."""

from __future__ import annotations

import re

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkims.v2 import ImsClient, ShowJobProgressRequest, ShowJobRequest

from tests.support.fixtures import server_fixture
from tests.support.jobs import submit_sleeps, wait_for_job
from tests.support.servers import AuthServer

pytestmark = [
    pytest.mark.clients,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # the SDK marks show_job so
]

jobs_server = server_fixture(
    "jobs_server", auth=True, env={"OPENIMS_TEST_JOBS": "1", "OPENIMS_JOB_POLL": "0.05"}
)
TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def ims(srv: AuthServer, who: str) -> ImsClient:
    key = srv.keys[who]
    credentials = BasicCredentials(key.access_key, key.secret_key, key.project_id)
    return ImsClient.new_builder().with_credentials(credentials).with_endpoint(srv.url).build()


def test_show_job_and_its_progress(jobs_server: AuthServer) -> None:
    project = jobs_server.project("t1")
    [job_id] = submit_sleeps(jobs_server.server.database_url, [{"seconds": 0}], project)
    wait_for_job(jobs_server.client("t1"), job_id, project_id=project)
    sdk = ims(jobs_server, "t1")

    job = sdk.show_job(ShowJobRequest(job_id=job_id))
    assert (job.status, job.job_id, job.job_type) == ("SUCCESS", job_id, "openimsTestSleep")
    assert TIME.fullmatch(job.begin_time) and TIME.fullmatch(job.end_time)
    assert job.begin_time <= job.end_time
    assert (job.error_code, job.fail_reason) == (None, None)
    assert job.entities.image_id is None  # this type makes no image

    progress = sdk.show_job_progress(ShowJobProgressRequest(job_id=job_id))
    assert (progress.status, progress.job_id) == ("SUCCESS", job_id)
    assert progress.entities.process_percent == 1.0
    assert (progress.begin_time, progress.end_time) == (job.begin_time, job.end_time)

    for other in ("t2", "admin"):  # another project's job is one that does not exist
        with pytest.raises(ClientRequestException) as caught:
            ims(jobs_server, other).show_job_progress(ShowJobProgressRequest(job_id=job_id))
        assert (caught.value.status_code, caught.value.error_code) == (404, "IMG.0031")
    with pytest.raises(ClientRequestException) as caught:
        sdk.show_job(ShowJobRequest(job_id="0" * 32))
    assert (caught.value.status_code, caught.value.error_code) == (404, "IMG.0031")
