"""FC code root entry: handler ``index.handler``, initializer ``index.initialize``."""

from __future__ import annotations

import os

# pydantic would scan every installed distribution for plugins at import (~2 ms of cold start); we use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from ehpc_rerun.app import handler, initialize

__all__ = ["handler", "initialize"]
