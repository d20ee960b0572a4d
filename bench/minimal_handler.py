"""The handler a user would write instead of ehpc-rerun (the baseline of ``bench_baseline``).

Written the obvious way, as an FC Python handler with the official E-HPC SDK: parse the event (one
``{"cluster_id", "job_ids"}`` record, or a list of them, the same direct-request shape ehpc-rerun takes),
build a client from the invocation's STS credentials, send one ``RerunJobs`` per record, print what
E-HPC answered. No dedupe, no rerun budget, no pre-check, no grouping of records, no retry, no deadline,
no outcome records: a batch of 100 one-job records is 100 ``RerunJobs`` calls.

The endpoint comes from ``MINIMAL_EHPC_ENDPOINT`` (host:port of the local simulator; a user would
write ``ehpc.<region>.aliyuncs.com`` and HTTPS).
"""

from __future__ import annotations

import json
import os
from typing import Any

from alibabacloud_ehpc20180412.client import Client
from alibabacloud_ehpc20180412.models import RerunJobsRequest
from alibabacloud_tea_openapi.models import Config


def handler(event: bytes | str, context: Any) -> str:
    body = json.loads(event)
    records = body if isinstance(body, list) else [body]
    creds = context.credentials
    client = Client(
        Config(
            access_key_id=creds.access_key_id,
            access_key_secret=creds.access_key_secret,
            security_token=creds.security_token,
            endpoint=os.environ["MINIMAL_EHPC_ENDPOINT"],
            protocol="http",
            region_id=os.environ.get("MINIMAL_EHPC_REGION", "cn-hangzhou"),
        )
    )
    for record in records:
        jobs = json.dumps([{"Id": job_id} for job_id in record["job_ids"]])
        request = RerunJobsRequest(cluster_id=record["cluster_id"], jobs=jobs, async_=True)
        response = client.rerun_jobs(request)
        print(json.dumps({"cluster_id": record["cluster_id"], "request_id": response.body.request_id}))
    return "ok"
