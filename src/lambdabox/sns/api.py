"""The SNS API: standard and FIFO topics, subscriptions (SQS queues and Lambda functions of the
topic owner's account, loopback HTTP/S URLs confirmed by the endpoint, email addresses recorded)
and Publish / PublishBatch, durable in the store, per account and region.

`SnsService` takes a `RequestContext` and the params dict as boto3 sends it (the query codec has
checked it against botocore's model) and returns each operation's result dict. A Publish commits
the message and one delivery row per subscription whose filter policy it passes before it answers
its MessageId; the delivery engine (engine.py) delivers them. A FIFO topic (FifoTopic=true, a
`.fifo` name) takes SQS subscriptions only; a message published to it needs a MessageGroupId and
a MessageDeduplicationId (or the topic's ContentBasedDeduplication), is numbered (SequenceNumber)
and, when the topic saw its deduplication id in the last five minutes (across the topic, or its
group with FifoThroughputScope=MessageGroup), answered as the first and delivered to nobody.

An HTTP/S subscription waits for its confirmation: Subscribe commits it with a token and a
SubscriptionConfirmation for the engine to POST; ConfirmSubscription, or a GET of the
SubscribeURL (`confirm_by_url`, served by links.py), confirms it; Unsubscribe (or the
UnsubscribeURL: `unsubscribe_by_url`) sends it an UnsubscribeConfirmation.

For Lambda's outbox (app.py): `publish_for(topic_arn, body, attributes, account)` publishes a
destination record or a dead-letter message on behalf of a function's account.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from typing import Any, ClassVar

from lambdabox.aws.context import RequestContext
from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.aws.tag_keys import reserved
from lambdabox.clock import Clock
from lambdabox.patterns import Pattern
from lambdabox.sns import store as sql
from lambdabox.sns.checks import attributes_size, check_entry, fifo_ids, invalid
from lambdabox.sns.delivery_policy import retry_policy
from lambdabox.sns.engine import DeliveryEngine
from lambdabox.sns.envelopes import subscribe_message, unsubscribe_message
from lambdabox.sns.filters import Subject, check_policy, matches
from lambdabox.sns.http_post import OffHost
from lambdabox.sns.models import (
    CONFIRMED_BY_ENDPOINT,
    DEDUPLICATION_WINDOW,
    DEFAULT_DELIVERY_POLICY,
    FIFO_SETTABLE,
    SUBSCRIPTION_CONFIRMATION,
    TOPIC_SETTABLE,
    UNSUBSCRIBE_CONFIRMATION,
    MessageAttributes,
    Published,
    Subscription,
    Topic,
    default_policy,
    topic_arn,
)
from lambdabox.sns.subscriptions import apply_attributes, check_endpoint, not_authorized
from lambdabox.sns.topic_attributes import check_fifo_attribute, check_topic_attribute, fifo_flag
from lambdabox.store.db import Store

Params = dict[str, Any]
Result = dict[str, Any]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,251}\.fifo")
FIFO_NAME_ERROR = (
    "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII "
    "letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
)
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
PAGE = 100
MAX_TAGS = 50
MAX_BATCH = 10
#: what Subscribe answers for a subscription waiting for its confirmation, and ListSubscriptions
PENDING_ARN = "pending confirmation"
LISTED_PENDING = "PendingConfirmation"
_HTTP = ("http", "https")


def _no_topic() -> ServiceError:
    return client_error("NotFound", "Topic does not exist", 404)


def _no_subscription() -> ServiceError:
    return client_error("NotFound", "Subscription does not exist", 404)


def _token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def _after(token: str | None) -> str:
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError:
        raise invalid("NextToken") from None


def _tags(given: list[dict[str, str]] | None) -> dict[str, str]:
    tags = {t["Key"]: t.get("Value", "") for t in given or []}
    if (key := reserved(tags)) is not None:
        raise invalid(f"Tags Reason: Keys starting with 'aws:' are reserved ({key})")
    return tags


class SnsService:
    """SNS for every account: topics and subscriptions in the store, deliveries by the engine."""

    SCHEMA: ClassVar[list[str]] = sql.SCHEMA

    def __init__(self, store: Store, clock: Clock, engine: DeliveryEngine) -> None:
        self._store = store
        self._clock = clock
        self._engine = engine
        #: (policy, scope) -> compiled pattern (a cache: the subscription's attributes are the truth)
        self._patterns: dict[tuple[str, str], Pattern] = {}

    # ============================================================================================
    # topics
    # ============================================================================================

    async def _topic(self, ctx: RequestContext, arn: str, action: str) -> Topic:
        """The caller's topic `arn` names (another account's refuses it: no policy is enforced)."""
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or parts[3] != ctx.region:
            raise invalid("TopicArn")
        topic = await self._store.read(lambda c: sql.get_topic(c, arn))
        if topic is None:
            raise _no_topic()
        if topic.account != ctx.account_id:
            raise not_authorized(ctx.account_id, action, arn)
        return topic

    async def CreateTopic(self, ctx: RequestContext, params: Params) -> Result:
        name: str = params["Name"]
        given: dict[str, str] = dict(params.get("Attributes") or {})
        fifo = fifo_flag(given.pop("FifoTopic", None))
        if fifo:
            if not _FIFO_NAME.fullmatch(name):
                raise client_error("InvalidParameter", FIFO_NAME_ERROR)
        elif not _NAME.fullmatch(name):  # (a .fifo name without FifoTopic=true too)
            raise invalid("Topic Name")
        for attr in given:
            if attr in FIFO_SETTABLE:
                given[attr] = check_fifo_attribute(attr, given[attr], fifo)
            elif attr not in TOPIC_SETTABLE:
                raise invalid(f"Attributes Reason: Unknown attribute {attr}")
            check_topic_attribute(attr, given[attr])
        tags = _tags(params.get("Tags"))
        if len(tags) > MAX_TAGS:
            raise client_error(
                "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
            )
        arn = topic_arn(ctx.region, ctx.account_id, name)
        attributes = {"Policy": default_policy(arn, ctx.account_id), "DisplayName": "", **given}
        if fifo:
            attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false", **attributes}
        new = Topic(ctx.region, ctx.account_id, name, attributes, tags, self._clock.now())
        topic, created = await self._store.write(sql.create_topic(new))
        if not created:
            if topic.fifo != fifo or any(topic.attributes.get(k) != v for k, v in given.items()):
                raise invalid("Attributes Reason: Topic already exists with different attributes")
            if tags and tags != topic.tags:
                raise invalid("Tags Reason: Topic already exists with different tags")
        return {"TopicArn": topic.arn}

    async def DeleteTopic(self, ctx: RequestContext, params: Params) -> Result:
        arn: str = params["TopicArn"]
        try:
            topic = await self._topic(ctx, arn, "DeleteTopic")
        except ServiceError as exc:
            if exc.code == "NotFound":  # deleting a topic that is not there is no error
                return {}
            raise
        await self._store.write(sql.delete_topic(topic.arn))
        return {}

    async def ListTopics(self, ctx: RequestContext, params: Params) -> Result:
        after = _after(params.get("NextToken"))
        arns = await self._store.read(
            lambda c: sql.list_topics(c, ctx.region, ctx.account_id, after, PAGE + 1)
        )
        out: Result = {"Topics": [{"TopicArn": a} for a in arns[:PAGE]]}
        if len(arns) > PAGE:
            out["NextToken"] = _token(arns[PAGE - 1])
        return out

    async def GetTopicAttributes(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._topic(ctx, params["TopicArn"], "GetTopicAttributes")
        subscribed, pending = await self._store.read(lambda c: sql.subscription_counts(c, topic.arn))
        delivery = topic.attributes.get("DeliveryPolicy")
        attributes = {
            **topic.attributes,
            "Owner": topic.account,
            "TopicArn": topic.arn,
            "SubscriptionsConfirmed": str(subscribed),
            "SubscriptionsPending": str(pending),
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": delivery or json.dumps(DEFAULT_DELIVERY_POLICY, separators=(",", ":")),
        }
        if topic.fifo:
            attributes.setdefault("FifoThroughputScope", "Topic")
        return {"Attributes": attributes}

    async def SetTopicAttributes(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._topic(ctx, params["TopicArn"], "SetTopicAttributes")
        name: str = params["AttributeName"]
        if name in FIFO_SETTABLE:
            value = check_fifo_attribute(name, params.get("AttributeValue") or "", topic.fifo)
        elif name in TOPIC_SETTABLE:
            value = params.get("AttributeValue") or ""
        else:
            raise invalid("AttributeName")
        attributes = {**topic.attributes, name: value}
        check_topic_attribute(name, attributes[name])
        if name == "Policy" and not attributes[name]:
            attributes[name] = default_policy(topic.arn, topic.account)
        if not await self._store.write(sql.update_topic(topic.arn, attributes=attributes)):
            raise _no_topic()
        return {}

    # ============================================================================================
    # tags
    # ============================================================================================

    async def _tagged(self, ctx: RequestContext, arn: str, action: str) -> Topic:
        try:
            return await self._topic(ctx, arn, action)
        except ServiceError as exc:
            if exc.code == "NotFound":
                raise client_error("ResourceNotFound", "Resource does not exist", 404) from None
            raise

    async def TagResource(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._tagged(ctx, params["ResourceArn"], "TagResource")
        tags = {**topic.tags, **_tags(params["Tags"])}
        if len(tags) > MAX_TAGS:
            raise client_error(
                "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
            )
        await self._store.write(sql.update_topic(topic.arn, tags=tags))
        return {}

    async def UntagResource(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._tagged(ctx, params["ResourceArn"], "UntagResource")
        gone = set(params["TagKeys"])
        await self._store.write(
            sql.update_topic(topic.arn, tags={k: v for k, v in topic.tags.items() if k not in gone})
        )
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._tagged(ctx, params["ResourceArn"], "ListTagsForResource")
        return {"Tags": [{"Key": k, "Value": v} for k, v in topic.tags.items()]}

    # ============================================================================================
    # subscriptions
    # ============================================================================================

    async def _subscription(self, ctx: RequestContext, arn: str, action: str) -> Subscription:
        parts = arn.split(":")
        if len(parts) != 7 or parts[:3] != ["arn", "aws", "sns"]:
            raise invalid("SubscriptionArn")
        sub = await self._store.read(lambda c: sql.get_subscription(c, arn))
        if sub is None:
            raise _no_subscription()
        if sub.owner != ctx.account_id:
            raise not_authorized(ctx.account_id, action, arn)
        return sub

    async def Subscribe(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._topic(ctx, params["TopicArn"], "Subscribe")
        protocol: str = params["Protocol"]
        endpoint = check_endpoint(topic, protocol, params.get("Endpoint"))
        if protocol in _HTTP:
            try:
                await self._engine.check_url(endpoint)
            except OffHost as exc:
                raise invalid(f"Endpoint Reason: {exc}") from None
        given: dict[str, str] = dict(params.get("Attributes") or {})
        attributes = apply_attributes(protocol, {"RawMessageDelivery": "false"}, given)
        show_arn = bool(params.get("ReturnSubscriptionArn"))
        have = await self._store.read(lambda c: sql.find_subscription(c, topic.arn, protocol, endpoint))
        if have is not None:
            if any(have.attributes.get(k) != v for k, v in attributes.items()):
                raise invalid("Attributes Reason: Subscription already exists with different attributes")
            if have.pending and protocol in _HTTP:  # asked again: the confirmation is sent again
                await self._confirmation(have, SUBSCRIPTION_CONFIRMATION, have.token)
            return {"SubscriptionArn": have.arn if show_arn or not have.pending else PENDING_ARN}
        pending = protocol in CONFIRMED_BY_ENDPOINT
        if pending:
            attributes["ConfirmationWasAuthenticated"] = "false"
        sub = Subscription(
            f"{topic.arn}:{uuid.uuid4()}", topic.arn, ctx.account_id, protocol, endpoint, attributes,
            self._clock.now(), secrets.token_hex(64) if pending else None, pending,
        )  # fmt: skip
        if not await self._store.write(sql.add_subscription(sub)):
            raise _no_topic()
        if protocol in _HTTP:
            await self._confirmation(sub, SUBSCRIPTION_CONFIRMATION, sub.token)
        return {"SubscriptionArn": sub.arn if show_arn or not pending else PENDING_ARN}

    async def _confirmation(self, sub: Subscription, kind: str, token: str | None) -> None:
        """Commit a SubscriptionConfirmation or UnsubscribeConfirmation for the engine to POST."""
        assert token is not None
        text = (
            subscribe_message(sub.topic_arn)
            if kind == SUBSCRIPTION_CONFIRMATION
            else unsubscribe_message(sub.arn)
        )
        message = Published(
            str(uuid.uuid4()), sub.topic_arn, sub.owner, text, None, None, {}, self._clock.now(), kind, token,
            sub.endpoint if kind == UNSUBSCRIBE_CONFIRMATION else None,
        )  # fmt: skip
        owed = await self._store.write(sql.publish(message, [sub.arn], self._clock.now()))
        self._engine.add(owed)

    async def ConfirmSubscription(self, ctx: RequestContext, params: Params) -> Result:
        # (the token is what authorises it: the endpoint's owner confirms, of any account)
        arn: str = params["TopicArn"]
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"]:
            raise invalid("TopicArn")
        authenticated = str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
        return await self._confirm(arn, params["Token"], authenticated)

    async def confirm_by_url(self, topic_arn: str, token: str) -> Result:
        """ConfirmSubscription through the SubscribeURL (unsigned: the token authorises it)."""
        return await self._confirm(topic_arn, token, False)

    async def _confirm(self, topic_arn: str, token: str, authenticated: bool) -> Result:
        if await self._store.read(lambda c: sql.get_topic(c, topic_arn)) is None:
            raise _no_topic()
        marks = {"ConfirmationWasAuthenticated": "true"} if authenticated else {}
        sub = await self._store.write(sql.confirm(topic_arn, token, marks))
        if sub is None:
            raise invalid("Token")
        return {"SubscriptionArn": sub.arn}

    async def Unsubscribe(self, ctx: RequestContext, params: Params) -> Result:
        sub = await self._subscription(ctx, params["SubscriptionArn"], "Unsubscribe")
        await self._unsubscribe(sub)
        return {}

    async def unsubscribe_by_url(self, arn: str) -> Result:
        """Unsubscribe through the UnsubscribeURL (unsigned), unless the subscription was confirmed
        with AuthenticateOnUnsubscribe."""
        parts = arn.split(":")
        if len(parts) != 7 or parts[:3] != ["arn", "aws", "sns"]:
            raise invalid("SubscriptionArn")
        sub = await self._store.read(lambda c: sql.get_subscription(c, arn))
        if sub is None:
            raise _no_subscription()
        if (
            sub.protocol in CONFIRMED_BY_ENDPOINT
            and sub.attributes.get("ConfirmationWasAuthenticated") == "true"
        ):
            raise client_error(
                "AuthorizationError",
                "Unsubscribe of this subscription requires authentication: it was confirmed with "
                "AuthenticateOnUnsubscribe",
                403,
            )
        await self._unsubscribe(sub)
        return {}

    async def _unsubscribe(self, sub: Subscription) -> None:
        await self._store.write(sql.delete_subscription(sub.arn))
        if sub.protocol in _HTTP:  # as AWS does: the endpoint hears of it
            await self._confirmation(sub, UNSUBSCRIBE_CONFIRMATION, secrets.token_hex(64))

    async def GetSubscriptionAttributes(self, ctx: RequestContext, params: Params) -> Result:
        sub = await self._subscription(ctx, params["SubscriptionArn"], "GetSubscriptionAttributes")
        attributes = {
            **sub.attributes,
            "Owner": sub.owner,
            "TopicArn": sub.topic_arn,
            "Endpoint": sub.endpoint,
            "Protocol": sub.protocol,
            "SubscriptionArn": sub.arn,
            "PendingConfirmation": "true" if sub.pending else "false",
            "ConfirmationWasAuthenticated": sub.attributes.get("ConfirmationWasAuthenticated", "true"),
            "SubscriptionPrincipal": f"arn:aws:iam::{sub.owner}:root",
        }
        if sub.protocol in _HTTP:
            topic = await self._store.read(lambda c: sql.get_topic(c, sub.topic_arn))
            policy = sub.attributes.get("DeliveryPolicy") or (
                topic.attributes.get("DeliveryPolicy") if topic is not None else None
            )
            attributes["EffectiveDeliveryPolicy"] = json.dumps(
                {"healthyRetryPolicy": retry_policy(policy), "sicklyRetryPolicy": None,
                 "throttlePolicy": None, "guaranteed": False},
                separators=(",", ":"),
            )  # fmt: skip
        return {"Attributes": attributes}

    async def SetSubscriptionAttributes(self, ctx: RequestContext, params: Params) -> Result:
        sub = await self._subscription(ctx, params["SubscriptionArn"], "SetSubscriptionAttributes")
        name: str = params["AttributeName"]
        attributes = apply_attributes(
            sub.protocol, sub.attributes, {name: params.get("AttributeValue") or ""}
        )
        if not await self._store.write(sql.set_subscription_attributes(sub.arn, attributes)):
            raise _no_subscription()
        return {}

    async def ListSubscriptions(self, ctx: RequestContext, params: Params) -> Result:
        after = _after(params.get("NextToken"))
        subs = await self._store.read(
            lambda c: sql.list_subscriptions(c, ctx.region, ctx.account_id, after, PAGE + 1)
        )
        return _page(subs)

    async def ListSubscriptionsByTopic(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._topic(ctx, params["TopicArn"], "ListSubscriptionsByTopic")
        after = _after(params.get("NextToken"))
        subs = [
            s for s in await self._store.read(lambda c: sql.subscriptions_of(c, topic.arn)) if s.arn > after
        ]
        return _page(subs[: PAGE + 1])

    # ============================================================================================
    # publishing
    # ============================================================================================

    async def Publish(self, ctx: RequestContext, params: Params) -> Result:
        if params.get("PhoneNumber"):
            raise invalid("PhoneNumber Reason: lambdabox does not send SMS")
        arn = params.get("TopicArn") or params.get("TargetArn")
        if not arn:
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        topic = await self._topic(ctx, arn, "Publish")
        attributes = check_entry(params, topic.fifo)
        message = self._message(topic, params, attributes)
        (answered,) = await self._publish(topic, [message])
        if answered.sequence is None:
            return {"MessageId": answered.message_id}
        return {"MessageId": answered.message_id, "SequenceNumber": answered.sequence}

    async def PublishBatch(self, ctx: RequestContext, params: Params) -> Result:
        topic = await self._topic(ctx, params["TopicArn"], "PublishBatch")
        entries: list[Params] = list(params["PublishBatchRequestEntries"])
        if not entries:
            raise client_error("EmptyBatchRequest", "The batch request doesn't contain any entries.")
        if len(entries) > MAX_BATCH:
            raise client_error(
                "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible."
            )
        ids = [e["Id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise client_error(
                "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
            )
        if any(not _BATCH_ID.fullmatch(i) for i in ids):
            raise client_error(
                "InvalidBatchEntryId",
                "The Id of a batch entry in a batch request doesn't abide by the specification.",
            )
        total = sum(
            len(str(e.get("Message", "")).encode()) + attributes_size(e.get("MessageAttributes") or {})
            for e in entries
        )
        if total > 256 * 1024:
            raise client_error(
                "BatchRequestTooLong", "The length of all the messages put together is more than the limit."
            )
        good: list[tuple[str, Published]] = []
        failed: list[Result] = []
        for entry in entries:
            try:
                attributes = check_entry(entry, topic.fifo)
                message = self._message(topic, entry, attributes)
            except ServiceError as exc:
                failed.append(
                    {"Id": entry["Id"], "Code": exc.code, "Message": exc.message, "SenderFault": True}
                )
                continue
            good.append((entry["Id"], message))
        answered = await self._publish(topic, [m for _, m in good])
        successful: list[Result] = []
        for (entry_id, _), m in zip(good, answered, strict=True):
            done: Result = {"Id": entry_id, "MessageId": m.message_id}
            if m.sequence is not None:
                done["SequenceNumber"] = m.sequence
            successful.append(done)
        return {"Successful": successful, "Failed": failed}

    async def publish_for(
        self, arn: str, body: bytes, attributes: dict[str, tuple[str, str]], account: str
    ) -> None:
        """Publish `body` with string `attributes` (name -> (DataType, value)) to the topic `arn`
        on behalf of `account` (Lambda's destinations and dead-letter queues); LookupError while
        there is no such topic of that account."""
        topic = await self._store.read(lambda c: sql.get_topic(c, arn))
        if topic is None or topic.account != account:
            raise LookupError(f"no topic {arn} of account {account}")
        if topic.fifo:  # (Lambda refuses a FIFO topic as a destination or dead-letter target)
            raise LookupError(f"{arn} is a FIFO topic")
        message = Published(
            str(uuid.uuid4()), topic.arn, topic.account, body.decode("utf-8", errors="replace"), None, None,
            {k: {"DataType": t, "StringValue": v} for k, (t, v) in attributes.items()}, self._clock.now(),
        )  # fmt: skip
        await self._publish(topic, [message])

    def _message(self, topic: Topic, entry: Params, attributes: MessageAttributes) -> Published:
        """The message `entry` publishes (a FIFO topic's with its group and deduplication id)."""
        group = dedup = None
        if topic.fifo:
            group, dedup = fifo_ids(entry, topic.attributes.get("ContentBasedDeduplication") == "true")
        return Published(
            str(uuid.uuid4()), topic.arn, topic.account, entry["Message"], entry.get("Subject"),
            entry.get("MessageStructure"), attributes, self._clock.now(), group_id=group, dedup_id=dedup,
        )  # fmt: skip

    async def _publish(self, topic: Topic, messages: list[Published]) -> list[Published]:
        """Commit the messages with a delivery row for each subscription they pass, then hand the
        rows to the engine; the messages as answered (a FIFO topic's numbered, a duplicate's as
        first published)."""
        if not messages:
            return []
        subs = await self._store.read(lambda c: sql.subscriptions_of(c, topic.arn))
        batch = []
        for m in messages:
            subject = Subject(m.text_for, m.attributes)
            batch.append((m, [s.arn for s in subs if not s.pending and self._passes(s, subject)]))
        now = self._clock.now()
        if not topic.fifo:
            self._engine.add(await self._store.write(sql.publish_all(batch, now)))
            return messages
        by_group = topic.attributes.get("FifoThroughputScope") == "MessageGroup"
        owed, answered = await self._store.write(
            sql.publish_fifo(topic.arn, batch, now, DEDUPLICATION_WINDOW, by_group)
        )
        self._engine.add(owed)
        return answered

    def _passes(self, sub: Subscription, subject: Subject) -> bool:
        policy = sub.attributes.get("FilterPolicy")
        if not policy:
            return True
        scope = sub.attributes.get("FilterPolicyScope", "MessageAttributes")
        pattern = self._patterns.get((policy, scope))
        if pattern is None:
            if len(self._patterns) > 1024:
                self._patterns.clear()
            pattern = self._patterns[(policy, scope)] = check_policy(policy, scope)
        return matches(pattern, scope, subject, sub.protocol)


def _page(subs: list[Subscription]) -> Result:
    out: Result = {
        "Subscriptions": [
            {"SubscriptionArn": LISTED_PENDING if s.pending else s.arn, "Owner": s.owner, "Protocol": s.protocol, "Endpoint": s.endpoint,
             "TopicArn": s.topic_arn}
            for s in subs[:PAGE]
        ]
    }  # fmt: skip
    if len(subs) > PAGE:
        out["NextToken"] = _token(subs[PAGE - 1].arn)
    return out
