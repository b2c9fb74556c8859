"""The one exception tree for AWS errors; serialized to the wire only at the edge.

Raise a `ServiceError` (or a subclass) anywhere in an operation; the protocol layer turns it
into AWS's exact error shape for the service's protocol. Any other exception reaching the edge
is a bug and becomes `ServiceException` (HTTP 500) with the request id logged.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS error: `code` is the error shape name (e.g. ResourceNotFoundException)."""

    code: str = "ServiceException"
    status: int = 400
    sender_fault: bool = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        #: extra members of the error shape (e.g. Lambda's retryAfterSeconds)
        self.fields: dict[str, Any] = dict(fields or {})

    @property
    def type(self) -> str:
        """Lambda's `Type` member: User for client faults, Service for ours."""
        return "User" if self.sender_fault else "Service"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, status={self.status})"


def client_error(code: str, message: str, status: int = 400, **fields: Any) -> ServiceError:
    """A sender-fault error with an explicit AWS code."""
    return ServiceError(message, code=code, status=status, sender_fault=True, fields=fields)


def server_error(code: str, message: str, status: int = 500, **fields: Any) -> ServiceError:
    """A service-fault error with an explicit AWS code."""
    return ServiceError(message, code=code, status=status, sender_fault=False, fields=fields)


class UnknownOperationError(ServiceError):
    """The request does not map to any operation of any service we serve."""

    code = "UnknownOperationException"
    status = 404


class InternalError(ServiceError):
    """A bug on our side, shown to clients as AWS's generic ServiceException."""

    code = "ServiceException"
    status = 500
    sender_fault = False
