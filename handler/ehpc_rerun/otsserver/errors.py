"""Tablestore's own error codes, messages and HTTP statuses, as the local server returns them.

Source for codes, messages and statuses: the Tablestore error-code reference,
https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes (and
https://help.aliyun.com/document_detail/27300.html). The SDK parses an error body as the protobuf ``Error``
message (``tablestore/protocol.py``, ``handle_error``), which is what :func:`error_body` builds.
"""

from __future__ import annotations

from ._sdk import pb2


class OTSError(Exception):
    """An error the server answers with: HTTP status, Tablestore error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_proto(self) -> pb2.Error:
        error = pb2.Error()
        error.code = self.code
        error.message = self.message
        return error

    def body(self) -> bytes:
        return bytes(self.to_proto().SerializeToString())


def auth_failed(message: str) -> OTSError:
    return OTSError(403, "OTSAuthFailed", message)


def parameter_invalid(message: str) -> OTSError:
    return OTSError(400, "OTSParameterInvalid", message)


def table_not_exist() -> OTSError:
    return OTSError(404, "OTSObjectNotExist", "Requested table does not exist.")


def table_already_exist() -> OTSError:
    # 409 OTSObjectAlreadyExist: from the error-code reference's API section (status recalled, UNVERIFIED).
    return OTSError(409, "OTSObjectAlreadyExist", "Requested table already exists.")


def condition_check_fail() -> OTSError:
    return OTSError(403, "OTSConditionCheckFail", "Condition check failed.")


def method_not_allowed() -> OTSError:
    # The documented message really is run together like this.
    return OTSError(
        405, "OTSMethodNotAllowed", "OTSMethodNotAllowedOnly POST method for requests is supported."
    )


def unsupported_operation(action: str, implemented: tuple[str, ...]) -> OTSError:
    return parameter_invalid(
        f"Unsupported operation: {action}. The local ehpc-rerun Tablestore server implements "
        f"{', '.join(implemented)}."
    )


def internal_error() -> OTSError:
    return OTSError(500, "OTSInternalServerError", "Internal server error.")
