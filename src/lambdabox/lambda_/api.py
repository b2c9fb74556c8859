"""The Lambda API: `LambdaService`, operations as async methods over boto3-shaped params.

Each public method is named after its AWS operation and takes `(ctx, params)`, returning the
output dict the protocol layer serializes (the edge finds an operation as the attribute of its
name). The operations live with what they act on and share one state (`base.py`):
`functions.py` (create, read, list, update, delete; the account's settings), `versions.py`
(publishing and listing versions), `aliases.py`, `permissions.py` (resource-based policies),
`tags.py`, `reserved.py` (reserved concurrency), `provisioned.py` (provisioned concurrency, run by
`provisioned_engine.py`), `url_configs.py` (function URLs, served by `url_dataplane.py`), `event_sources.py` (event source mappings, run by `esm_engine.py`), `recursion.py` (recursive loop detection), `invoke.py` (and `invoke_stream.py`: InvokeWithResponseStream), `event_configs.py` (asynchronous invocation configurations) and
`async_results.py` (destination records and dead-letter messages); `paging.py` pages their List answers. What Lambda itself checks in a request, beyond the model the protocol
layer has checked it against, is in `checks.py`.

A FunctionName may be a name, a partial or a full ARN, qualified or not (`name:3`,
`name:alias`, `…:function:name:$LATEST`); `base.py` reads it once, as AWS does, refusing
another account's ARN (403) and another region's (404).
"""

from __future__ import annotations

from lambdabox.lambda_.aliases import AliasOperations
from lambdabox.lambda_.async_results import AsyncResultOperations
from lambdabox.lambda_.base import LambdaDeps
from lambdabox.lambda_.event_configs import EventInvokeConfigOperations
from lambdabox.lambda_.event_sources import EventSourceMappingOperations
from lambdabox.lambda_.functions import FunctionOperations
from lambdabox.lambda_.invoke_stream import InvokeStreamOperations
from lambdabox.lambda_.permissions import PermissionOperations
from lambdabox.lambda_.provisioned import ProvisionedConcurrencyOperations
from lambdabox.lambda_.recursion import RecursionConfigOperations
from lambdabox.lambda_.reserved import ReservedConcurrencyOperations
from lambdabox.lambda_.tags import TagOperations
from lambdabox.lambda_.url_configs import UrlConfigOperations

__all__ = ["LambdaDeps", "LambdaService"]


class LambdaService(
    FunctionOperations,
    AliasOperations,
    PermissionOperations,
    TagOperations,
    InvokeStreamOperations,
    AsyncResultOperations,
    EventInvokeConfigOperations,
    ReservedConcurrencyOperations,
    ProvisionedConcurrencyOperations,
    RecursionConfigOperations,
    EventSourceMappingOperations,
    UrlConfigOperations,
):
    """The Lambda API of one lambdabox server."""
