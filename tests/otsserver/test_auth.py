"""Request checks as Tablestore makes them: key, signature, STS token, instance, body MD5, action, method."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
import tablestore
from tablestore import OTSClient, OTSServiceError, Row
from tablestore.auth import RequestContext, SignV2
from tablestore.credentials import Credentials
from tablestore.protobuf import table_store_pb2 as pb2
from tablestore.protocol import OTSProtocol

from ehpc_rerun.otsserver import TablestoreServer
from tests.otsserver.conftest import INSTANCE, KEY_ID, SECRET, TABLE, TOKEN

Client = Callable[..., OTSClient]


def sdk_signed(action: str, body: bytes, *, token: str | None = TOKEN) -> dict[str, str]:
    """The headers the SDK itself signs for ``body`` (its own request signer, not ours)."""
    protocol = OTSProtocol(INSTANCE, "utf-8", logging.getLogger("test-raw"))
    context = RequestContext(Credentials(KEY_ID, SECRET, token))
    return dict(protocol._make_request_headers(body, "/" + action, SignV2("utf-8"), context))


def post(
    server: TablestoreServer, action: str, body: bytes, headers: dict[str, str], method: str = "POST"
) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{server.endpoint}/{action}", data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


def error_of(body: bytes) -> tuple[str, str]:
    error = pb2.Error()
    error.ParseFromString(body)
    return error.code, error.message


def refused(client: OTSClient) -> OTSServiceError:
    with pytest.raises(OTSServiceError) as failure:
        client.put_row(TABLE, Row([("key", "k")], [("v", 1)]))
    return failure.value


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"access_key_secret": "wrong-secret"}, "Signature mismatch."),
        ({"access_key_id": "other-ak-id"}, "The AccessKeyID does not exist."),
        ({"instance_name": "other-instance"}, "The instance is not found."),
        (
            {"sts_token": "wrong-token"},
            "The security token you provided is invalid or missing (x-ots-ststoken).",
        ),
        ({"sts_token": None}, "The security token you provided is invalid or missing (x-ots-ststoken)."),
    ],
    ids=["wrong-secret", "unknown-key-id", "wrong-instance", "wrong-sts-token", "missing-sts-token"],
)
def test_bad_credentials_are_refused_with_ots_auth_failed(
    make_client: Client, server: TablestoreServer, overrides: dict[str, object], message: str
) -> None:
    # when a client with one bad credential writes
    error = refused(make_client(**overrides))

    # then Tablestore's 403 OTSAuthFailed comes back and nothing was written
    assert (error.get_http_status(), error.get_error_code(), error.get_error_message()) == (
        403,
        "OTSAuthFailed",
        message,
    )
    assert server.rows() == {}


def test_a_token_sent_to_a_server_without_one_is_refused() -> None:
    # given a server started for a permanent key (no STS token)
    with TablestoreServer(access_key_id=KEY_ID, access_key_secret=SECRET) as server:
        client = OTSClient(
            server.endpoint,
            KEY_ID,
            SECRET,
            INSTANCE,
            sts_token=TOKEN,
            retry_policy=tablestore.NoRetryPolicy(),
        )

        # when a client presents an STS token anyway
        error = refused(client)

    # then it is refused
    assert error.get_error_code() == "OTSAuthFailed"


def test_v4_signing_with_a_region_is_accepted(make_client: Client) -> None:
    # given a client that signs V4 (the SDK does when given region=)
    client = make_client(region="cn-hangzhou")

    # when it writes and reads back (the SDK verifies the signed answers)
    client.put_row(TABLE, Row([("key", "v4")], [("v", 1)]))
    _, row, _ = client.get_row(TABLE, [("key", "v4")], max_version=1)

    # then both calls went through
    assert [(n, v) for n, v, _ in row.attribute_columns] == [("v", 1)]


def test_a_body_altered_after_signing_fails_the_md5_check(server: TablestoreServer) -> None:
    # given a PutRow the SDK encoded and signed, whose body is then changed (value 1 -> 2)
    protocol = OTSProtocol(INSTANCE, "utf-8", logging.getLogger("test-raw"))
    context = RequestContext(Credentials(KEY_ID, SECRET, TOKEN))
    row = Row([("key", "k")], [("v", 1)])
    _, headers, body = protocol.make_request("PutRow", SignV2("utf-8"), context, TABLE, row, None, None, None)
    tampered = body.replace(b"\x01\x00\x00\x00\x00\x00\x00\x00", b"\x02\x00\x00\x00\x00\x00\x00\x00")
    assert tampered != body

    # when it is sent
    status, answer = post(server, "PutRow", tampered, dict(headers))

    # then the MD5 mismatch is refused with Tablestore's code and message, and nothing was written
    assert status == 403
    assert error_of(answer) == (
        "OTSAuthFailed",
        "Mismatch between MD5 value of request body and x-ots-contentmd5 in header.",
    )
    assert server.rows() == {}


def test_the_same_raw_request_untampered_is_served(server: TablestoreServer) -> None:
    # given the same PutRow, unchanged
    protocol = OTSProtocol(INSTANCE, "utf-8", logging.getLogger("test-raw"))
    context = RequestContext(Credentials(KEY_ID, SECRET, TOKEN))
    row = Row([("key", "k")], [("v", 1)])
    _, headers, body = protocol.make_request("PutRow", SignV2("utf-8"), context, TABLE, row, None, None, None)

    # when it is sent
    status, _ = post(server, "PutRow", body, dict(headers))

    # then it is served (so the tampered case above failed for the MD5 alone)
    assert status == 200
    assert server.rows() == {("k",): {"v": 1}}


def test_an_action_the_server_does_not_implement_is_an_unsupported_operation(
    client: OTSClient, server: TablestoreServer
) -> None:
    # when the SDK calls SQLQuery, and a raw signed request names an action Tablestore does not have
    with pytest.raises(OTSServiceError) as sql:
        client.exe_sql_query("select * from ehpc_rerun_state")
    status, answer = post(server, "NoSuchAction", b"", sdk_signed("NoSuchAction", b""))

    # then both get Tablestore's 400 OTSParameterInvalid "Unsupported operation"
    assert (sql.value.get_http_status(), sql.value.get_error_code()) == (400, "OTSParameterInvalid")
    assert sql.value.get_error_message().startswith("Unsupported operation: SQLQuery.")
    assert status == 400
    assert error_of(answer)[1].startswith("Unsupported operation: NoSuchAction.")
    assert server.calls["SQLQuery"] == 1 and server.calls["NoSuchAction"] == 1


def test_only_post_is_allowed(server: TablestoreServer) -> None:
    # when a GET arrives
    status, answer = post(server, "ListTable", b"", {}, method="GET")

    # then it is refused as the reference documents
    assert (status, error_of(answer)[0]) == (405, "OTSMethodNotAllowed")


def test_missing_signature_headers_are_a_parameter_error(server: TablestoreServer) -> None:
    # given the SDK's headers without the date
    headers = sdk_signed("ListTable", b"")
    del headers["x-ots-date"]

    # when it is sent
    status, answer = post(server, "ListTable", b"", headers)

    # then the missing header is named
    assert (status, error_of(answer)) == (400, ("OTSParameterInvalid", "Missing header: x-ots-date."))
