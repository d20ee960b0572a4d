"""ehpc-rerun: rerun stuck E-HPC jobs from Function Compute events, safely.

Data flows one way::

    event -> sources (which trigger? unwrap) -> RerunRequest -> policy (dedupe, budget, caps)
          -> plan (group per cluster, <=100 per call) -> ehpc (RerunJobs) -> JobOutcome -> sinks

Nothing here imports the E-HPC SDK at module level: only :mod:`ehpc_rerun.ehpc.client` does, lazily,
on the path that really calls E-HPC.
"""

from __future__ import annotations

__version__ = "0.1.0"
