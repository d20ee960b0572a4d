"""FC code root entry: handler ``index.handler``, initializer ``index.initialize``."""

from __future__ import annotations

from ehpc_rerun.app import handler, initialize

__all__ = ["handler", "initialize"]
