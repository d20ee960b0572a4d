"""Local E-HPC (API 2018-04-12) simulator that the real Alibaba Cloud SDK talks to over HTTP."""

from __future__ import annotations

from .apierror import ApiError
from .calls import RecordedCall
from .faults import Fault
from .nodes import SimNode
from .server import API_VERSION, Simulator
from .signature import VerifyResult, verify
from .state import SimCluster, SimJob, SimState, now_iso

__all__ = [
    "API_VERSION",
    "ApiError",
    "Fault",
    "RecordedCall",
    "SimCluster",
    "SimJob",
    "SimNode",
    "SimState",
    "Simulator",
    "VerifyResult",
    "now_iso",
    "verify",
]
