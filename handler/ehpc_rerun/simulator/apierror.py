"""The simulator's error answers: :class:`ApiError` carries the HTTP status and Alibaba's ``Code``."""

from __future__ import annotations


class ApiError(Exception):
    """An OpenAPI error answer: HTTP status, ``Code`` and ``Message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid(name: str) -> ApiError:
    """E-HPC's answer to a bad parameter value."""
    return ApiError(400, "InvalidParams", f"The specified parameter {name} is invalid.")
