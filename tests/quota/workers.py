"""Code run in separate processes: one more FC instance taking E-HPC quota tokens (spawned by tests)."""

from __future__ import annotations

import time


def take_tokens(store_url: str, quota: int, wanted: int, deadline_s: float) -> tuple[int, int, float, float]:
    """Take up to ``wanted`` ListJobs tokens from the shared bucket: (taken, refused, first, last time)."""
    from ehpc_rerun.deadline import Deadline
    from ehpc_rerun.ehpc.errors import EhpcCallError
    from ehpc_rerun.ehpc.ratelimit import RateLimiter
    from ehpc_rerun.state import open_store
    from tests.state.conftest import fake_credentials

    store = open_store(store_url, credentials=fake_credentials)
    limiter = RateLimiter(lambda: store, {"ListJobs": quota})
    deadline = Deadline.after(deadline_s)
    taken = refused = 0
    first = last = 0.0
    try:
        for _ in range(wanted):
            try:
                limiter.take("ListJobs", deadline)
            except EhpcCallError as error:
                assert error.code == "QuotaExhausted", error
                refused += 1
                continue
            last = time.time()
            first = first or last
            taken += 1
    finally:
        store.close()
    return taken, refused, first, last
