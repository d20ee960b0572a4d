"""Start/stop: a stopped server answers nobody, not even over a keep-alive connection opened before."""

from __future__ import annotations

import pytest
import tablestore
from tablestore import OTSClient, Row

from ehpc_rerun.otsserver import TablestoreServer
from tests.otsserver.conftest import INSTANCE, KEY_ID, SECRET, TABLE


def test_a_stopped_server_stops_answering_open_keep_alive_connections() -> None:
    # given a client that has already talked to the server (its pooled connection stays open)
    server = TablestoreServer(access_key_id=KEY_ID, access_key_secret=SECRET).start()
    client = OTSClient(
        server.endpoint, KEY_ID, SECRET, INSTANCE, retry_policy=tablestore.NoRetryPolicy(), socket_timeout=2
    )
    client.put_row(TABLE, Row([("key", "before")], [("v", 1)]))

    # when the server is stopped and the client writes again
    server.stop()
    with pytest.raises(Exception) as failure:
        client.put_row(TABLE, Row([("key", "after")], [("v", 2)]))

    # then the write fails at the transport and never reached the table
    assert not isinstance(failure.value, tablestore.OTSServiceError)
    assert server.rows() == {("before",): {"v": 1}}


def test_the_url_names_the_endpoint_instance_and_first_table() -> None:
    # given a server on a free port with two tables
    with TablestoreServer(
        access_key_id=KEY_ID, access_key_secret=SECRET, instance="inst", tables=("a", "b")
    ) as ots:
        # when its addresses are read
        url, endpoint = ots.url, ots.endpoint

    # then they point at 127.0.0.1 and name the first table
    assert endpoint.startswith("http://127.0.0.1:") and url == f"tablestore+{endpoint}/inst/a"
