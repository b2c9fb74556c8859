"""Request size limits: the largest body an operation accepts, and AWS's answer beyond it.

The edge asks a service for the limit of a request once its headers are in (the operation is
known from the path or `X-Amz-Target` by then) and refuses a larger body from its
`Content-Length`, before reading it, or, for a chunked body, as soon as it passes the limit.
Each service names its own limits (Lambda's are in `lambda_.limits`); operations it does not
name get `default_limit`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from lambdabox.aws.errors import ServiceError, client_error

#: the largest body of an operation without a limit of its own (API Gateway's payload limit)
DEFAULT_BODY_LIMIT = 10_485_760


@dataclass(frozen=True, slots=True)
class RequestLimit:
    """At most `size` bytes of body; a larger one is refused with `code` and `message`, in which
    `{limit}` is `size` and `{size}` the size of the refused body (declared, or received so far)."""

    size: int
    message: str
    code: str = "RequestEntityTooLargeException"
    status: int = 413

    def error(self, size: int) -> ServiceError:
        """AWS's answer to a body of `size` bytes (more than the limit)."""
        return client_error(self.code, self.message.format(limit=self.size, size=size), self.status)


#: a service's limits: the limit of a request for `operation` (None: not known from the headers)
Limits = Callable[[str | None, Mapping[str, str]], RequestLimit]


@functools.lru_cache(maxsize=512)
def operation_limit(operation: str | None, size: int = DEFAULT_BODY_LIMIT) -> RequestLimit:
    """A limit of `size` bytes, refused in the words AWS uses for its operations' request sizes."""
    if operation is None:
        return RequestLimit(size, "Request must be smaller than {limit} bytes")
    return RequestLimit(
        size, "Request must be smaller than {limit} bytes for the " + operation + " operation"
    )


def default_limit(operation: str | None, headers: Mapping[str, str]) -> RequestLimit:
    """The limits of a service that names none: `DEFAULT_BODY_LIMIT` for every operation."""
    return operation_limit(operation)
