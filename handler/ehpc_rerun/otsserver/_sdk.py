"""The official ``tablestore`` SDK pieces the server reuses, imported with stdout kept clean.

The SDK reports "Native C++ encoder not available" on import. It does so through ``logging`` (stderr) today;
stdout is redirected to stderr around the import as well, so that the first stdout line of
``ehpc-rerun tablestore`` stays the ``EHPC_RERUN_STATE`` value whatever a future SDK version prints.
"""

from __future__ import annotations

import contextlib
import sys

with contextlib.redirect_stdout(sys.stderr):
    import tablestore.protobuf.table_store_filter_pb2 as filter_pb2
    import tablestore.protobuf.table_store_pb2 as pb2
    from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
    from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
    from tablestore.plainbuffer.plain_buffer_crc8 import PlainBufferCrc8

__all__ = ["DecodeError", "Message", "PlainBufferBuilder", "PlainBufferCrc8", "filter_pb2", "pb2"]
