"""SQS's query API as its query-era clients speak it: the wire names botocore's json model forgot.

SQS moved its SDKs to the json protocol and its botocore model along with them; the model is
marked `awsQueryCompatible` and AWS still serves the query protocol (older SDKs, hand-written
form POSTs), but the model lost the query serialization traits of SQS's 2012-11-05 query API.
`overlay` puts them back on a copy of the model, for the query codec only (json is untouched):

- every list is flattened and its items named in the singular, as the SQS API reference names
  its parameters and elements: `AttributeName.1=All`, `MessageAttributeName.1`,
  `SendMessageBatchRequestEntry.1.Id`, `TagKey.1`, `AWSAccountId.1`, `ActionName.1`;
  `<Message>`, `<QueueUrl>`, `<SendMessageBatchResultEntry>`, `<BatchResultErrorEntry>` repeated;
- every map is flattened, each entry named for the map (`Attribute`, `MessageAttribute`,
  `MessageSystemAttribute`, `Tag`) with its key and value as `Name`/`Value` (tags: `Key`/`Value`):
  `Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=7`,
  `MessageAttribute.1.Value.StringValue=v`, `<Attribute><Name>SenderId</Name><Value>...`;
- each operation's output is wrapped in `<{Operation}Result>`, beside `<ResponseMetadata>`;
- the documents are in SQS's namespace, `http://queue.amazonaws.com/doc/2012-11-05/`;
- each error shape carries its query code (`AWS.SimpleQueueService.NonExistentQueue` for
  QueueDoesNotExist: `query_errors.QUERY_CODES`), so a query client finds its exception class.

The names are those of the SQS API reference's query parameters and sample responses. One is
newer than the query-era SDKs, ReceiveMessage's `MessageSystemAttributeNames`: it follows the
same rule (`MessageSystemAttributeName.1`).

Two rules of the query API are not traits. A request posted to a queue's own URL
(`POST /123456789012/q`, as query-era SDKs send) names the queue by its path and need not give
`QueueUrl` (`queue_url_from_path`). And a list or map of one item may leave out its index, as
the API reference writes it (`Attribute.Name=k&Attribute.Value=v` for SetQueueAttributes,
`Tag.Key=k&Tag.Value=v` for TagQueue, `TagKey=k` for UntagQueue in its examples). `DIALECT`
hands all of it to the query codec (`ServiceProtocol("sqs", query=DIALECT)`, in app.py).
"""

from __future__ import annotations

import copy
from typing import Any

from botocore.model import OperationModel

from lambdabox.aws.protocol import WireRequest
from lambdabox.aws.protocol_query import QueryDialect
from lambdabox.aws.query_errors import QUERY_CODES

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"

#: list shape -> the name of each of its items (every list is flattened)
LIST_ITEMS: dict[str, str] = {
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
    "AttributeNameList": "AttributeName",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "BinaryList": "BinaryListValue",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "MessageAttributeNameList": "MessageAttributeName",
    "MessageList": "Message",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "QueueUrlList": "QueueUrl",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
    "StringList": "StringListValue",
    "TagKeyList": "TagKey",
}

#: map shape -> (the name of each entry, of its key, of its value) (every map is flattened)
MAP_ENTRIES: dict[str, tuple[str, str, str]] = {
    "MessageBodyAttributeMap": ("MessageAttribute", "Name", "Value"),
    "MessageBodySystemAttributeMap": ("MessageSystemAttribute", "Name", "Value"),
    "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
    "QueueAttributeMap": ("Attribute", "Name", "Value"),
    "TagMap": ("Tag", "Key", "Value"),
}


def overlay(model: dict[str, Any]) -> dict[str, Any]:
    """A copy of botocore's SQS model (its service-2 data) with the query traits above."""
    out = copy.deepcopy(model)
    out["metadata"]["xmlNamespace"] = NAMESPACE
    shapes: dict[str, dict[str, Any]] = out["shapes"]
    for name, item in LIST_ITEMS.items():
        shape = shapes[name]
        shape["flattened"] = True
        shape["member"]["locationName"] = item
    for name, (_entry, key, value) in MAP_ENTRIES.items():
        shape = shapes[name]
        shape["flattened"] = True
        shape["key"]["locationName"] = key
        shape["value"]["locationName"] = value
    for shape in shapes.values():
        for ref in shape.get("members", {}).values():
            names = MAP_ENTRIES.get(ref["shape"])
            if names is not None:
                ref["locationName"] = names[0]
    for name, code in QUERY_CODES["SQS"].items():
        shape = shapes[name]
        shape["error"] = {**shape.get("error", {}), "code": code}
    for name, op in out["operations"].items():
        if "output" in op:
            op["output"]["resultWrapper"] = f"{name}Result"
    return out


def queue_url_from_path(req: WireRequest, operation: OperationModel) -> list[tuple[str, str]]:
    """The `QueueUrl` a query request posted to a queue's URL implies (none for `/`, or for an
    operation that takes no queue URL); the form's own `QueueUrl` wins over it."""
    path = req.path.rstrip("/")
    shape = operation.input_shape
    if not path or shape is None or "QueueUrl" not in shape.members:
        return []
    host = req.headers.get("host") or "localhost"
    return [("QueueUrl", f"http://{host}{path}")]


#: SQS's query API, for `ServiceProtocol("sqs", query=DIALECT)`
DIALECT = QueryDialect(traits=overlay, implied_fields=queue_url_from_path, unindexed=True)
