"""Dead-letter queues of queues: whether a RedrivePolicy's target may be used (it exists in the
source's account and region, and its RedriveAllowPolicy lets the source in), moving a source
queue's messages received more than `maxReceiveCount` times to the target (inside the receive's
transaction, so the move is as durable as the receive), and the queues naming a queue as theirs.

As on AWS, a message moves on the first receive attempt after its receive count exceeded the
limit; it keeps its id, body, attributes, receive count and sent time (its retention in the
dead-letter queue counts from that original send), and answers `DeadLetterQueueSourceArn`. A
FIFO queue's dead-letter queue is a FIFO queue (and a standard queue's standard, AWS's error
otherwise); its messages keep their group, deduplication id and sequence number, and their order."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from lambdabox.aws.errors import ServiceError, client_error
from lambdabox.sqs import store as sql
from lambdabox.sqs.attributes import parse_queue_arn, redrive_allow_policy, redrive_policy
from lambdabox.sqs.models import Queue


@dataclass(frozen=True)
class Redrive:
    """What a receive from a source queue needs to move its dead letters."""

    source_arn: str
    target: tuple[str, str, str]  # region, account, name
    max_receive_count: int


def redrive_of(q: Queue) -> Redrive | None:
    policy = redrive_policy(q.attributes)
    if policy is None:
        return None
    target = parse_queue_arn(policy.target_arn)
    return None if target is None else Redrive(q.arn, target, policy.max_receive_count)


def target_refusal(
    conn: sqlite3.Connection, source: Queue | tuple[str, str, str], text: str, given: str
) -> ServiceError | None:
    """AWS's error if the RedrivePolicy `text` (checked) of `source` (a queue, or the (region,
    account, name) of one being created) names no usable dead-letter queue, else None; the error
    quotes the policy as `given`."""
    region, account, name = (
        (source.region, source.account, source.name) if isinstance(source, Queue) else source
    )
    source_arn = f"arn:aws:sqs:{region}:{account}:{name}"
    policy = redrive_policy({"RedrivePolicy": text})
    assert policy is not None
    target = parse_queue_arn(policy.target_arn)
    dlq = None
    if target is not None and target[:2] == (region, account) and target[2] != name:
        dlq = sql.get_queue(conn, *target)
    reason = "Dead letter target does not exist."
    if dlq is not None and dlq.fifo != name.endswith(".fifo"):
        reason = "Dead-letter queue must be same type of queue as the source."
    elif dlq is not None and not redrive_allow_policy(dlq.attributes).allows(source_arn):
        reason = f"Queue {source_arn} is not allowed to use {dlq.arn} as its dead-letter queue."
    elif dlq is not None:
        return None
    return client_error(
        "InvalidParameterValue", f"Value {given} for parameter RedrivePolicy is invalid. Reason: {reason}"
    )


def move_dead_letters(conn: sqlite3.Connection, queue_id: int, redrive: Redrive, now: float) -> int | None:
    """Move the source queue's receivable messages already received more than the limit allows to
    the dead-letter queue; the dead-letter queue's id if any moved. Nothing moves while the target
    is gone or (since the policy was set) refuses this source."""
    dlq = sql.get_queue(conn, *redrive.target)
    if (
        dlq is None
        or dlq.id == queue_id
        or not redrive_allow_policy(dlq.attributes).allows(redrive.source_arn)
    ):
        return None
    cur = conn.execute(
        "UPDATE sqs_messages SET queue_id=?, visible=?, receipt='', dead_letter_source=?, expires=sent + ? "
        "WHERE queue_id=? AND visible <= ? AND expires > ? AND receive_count >= ?",
        (
            dlq.id, now, redrive.source_arn, dlq.setting("MessageRetentionPeriod"),
            queue_id, now, now, redrive.max_receive_count,
        ),
    )  # fmt: skip
    return dlq.id if cur.rowcount else None


def source_queues(conn: sqlite3.Connection, dlq: Queue) -> list[str]:
    """The names of the queues (of the dead-letter queue's account and region) that name it, by name."""
    out = []
    for q in sql.queues(conn, dlq.region, dlq.account):
        policy = redrive_policy(q.attributes)
        if policy is not None and policy.target_arn == dlq.arn:
            out.append(q.name)
    return out
