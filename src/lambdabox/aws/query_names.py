"""The query-era wire names that botocore's json models of `awsQueryCompatible` services lost.

SQS moved from the query protocol to json; botocore's json model of it kept `flattened` on its
lists and maps but dropped their `locationName`s, which only the query wire needs. AWS still
speaks those names to query clients: `SendMessageBatchRequestEntry.1.Id`, `AttributeName.1`,
`Attribute.1.Name` / `Attribute.1.Value`, `MessageAttribute.1.Value.StringValue`, `Tag.1.Key`,
and `<SendMessageBatchResultEntry>`, `<Message>`, `<QueueUrl>` in the XML it answers, each
operation's result inside `<{Operation}Result>` (the lost `resultWrapper`). `QUERY_NAMES`
restores them from the service's query-era model, keyed by the model's `serviceId` and the shape;
`query_model` gives the query codec its own copy of the model with them (the json codec keeps the
model as botocore ships it, since json reads `locationName` too).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import botocore.loaders
import botocore.model

#: a flattened list's member name, or a flattened map's (element, key, value) names
Names = str | tuple[str, str, str]

#: serviceId -> shape name -> its query-era names
QUERY_NAMES: Mapping[str, Mapping[str, Names]] = {
    "SQS": {
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
        "MessageBodyAttributeMap": ("MessageAttribute", "Name", "Value"),
        "MessageBodySystemAttributeMap": ("MessageSystemAttribute", "Name", "Value"),
        "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
        "QueueAttributeMap": ("Attribute", "Name", "Value"),
        "TagMap": ("Tag", "Key", "Value"),
    },
}


def query_model(model: botocore.model.ServiceModel) -> botocore.model.ServiceModel:
    """`model` with its query-era names restored (`model` itself if none are known)."""
    names = QUERY_NAMES.get(str(model.metadata.get("serviceId")))
    if not names:
        return model
    loader = botocore.loaders.Loader()
    raw = loader.load_service_model(model.service_name, "service-2", model.api_version)
    data = copy.deepcopy(raw)
    shapes = data["shapes"]
    for shape_name, given in names.items():
        shape = shapes[shape_name]
        shape["flattened"] = True
        if isinstance(given, str):
            shape["member"]["locationName"] = given
        else:
            shape["locationName"], shape["key"]["locationName"], shape["value"]["locationName"] = given
    for op_name, op in data["operations"].items():
        if "output" in op:  # query answers wrap a result: <CreateQueueResult>…</CreateQueueResult>
            op["output"]["resultWrapper"] = f"{op_name}Result"
    return botocore.model.ServiceModel(data, service_name=model.service_name)
