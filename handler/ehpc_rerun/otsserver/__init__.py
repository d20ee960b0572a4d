"""A local Tablestore (OTS) server for tests, the demo and users. A DEV/TEST TOOL: not part of the function.

It is never imported by the deployed function's code paths; only tests, the demo and ``ehpc-rerun tablestore``
use it.

It speaks the Tablestore wire protocol (protobuf bodies with PlainBuffer rows, request signing and signed
responses) using the official ``tablestore`` SDK's own message classes, so the state store can be
exercised with the real SDK on 127.0.0.1 without the cloud. Start it with ``ehpc-rerun tablestore`` or
``python -m ehpc_rerun.otsserver``.
"""

from __future__ import annotations

from .server import TablestoreServer

__all__ = ["TablestoreServer"]
