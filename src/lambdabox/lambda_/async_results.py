"""What a settled asynchronous event owes other services, and the Lambda side of delivering it.

`settle_async_event` (the async engine's `settle`) turns an event that succeeded or was given up
into outbox rows: the invocation record for the OnSuccess / OnFailure destination of the
qualifier it was invoked with (event_configs.py), and on failure the event itself for the
function's DeadLetterConfig queue or topic (of the version that ran, else the one invoked).
`deliver_to_function` is the outbox's delivery to a Lambda function destination: the record
becomes an asynchronous event of that function (accepted, so committed, before it returns),
continuing the chain of invocations of the event it is about (its lineage, `lineage.py`), so
that two functions whose destinations name each other are stopped as a recursive loop.
"""

from __future__ import annotations

from lambdabox.aws import ids
from lambdabox.aws.errors import client_error
from lambdabox.lambda_.async_store import AsyncEvent
from lambdabox.lambda_.event_configs import EventInvokeConfigOperations
from lambdabox.lambda_.invocation_record import SUCCESS, dead_letter_attributes, record
from lambdabox.lambda_.lineage import Lineage, function_hash
from lambdabox.lambda_.models import LATEST
from lambdabox.lambda_.outbox_store import DEAD_LETTER, DESTINATION, OutboxItem


class AsyncResultOperations(EventInvokeConfigOperations):
    """Destination records and dead-letter messages of asynchronous invocations."""

    def settle_async_event(self, ev: AsyncEvent, condition: str, invoke_count: int) -> list[OutboxItem]:
        now = self._clock.now()
        on_success, on_failure = self.destinations(ev.region, ev.account, ev.function_name, ev.qualifier)
        destination = on_success if condition == SUCCESS else on_failure
        owed: list[OutboxItem] = []
        # the chain as the event's invocation continued it (one more of this function)
        lineage = Lineage.parse(ev.lineage).incremented(
            function_hash(ev.region, ev.account, ev.function_name)
        )

        def item(kind: str, target: str, body: bytes, attributes: dict[str, tuple[str, str]]) -> OutboxItem:
            return OutboxItem(
                kind,
                target,
                ev.region,
                ev.account,
                ev.function_arn,
                condition,
                body,
                now,
                attributes,
                lineage=str(lineage),
            )

        if destination is not None:
            body = record(
                request_id=ev.request_id,
                function_arn=ev.function_arn,
                condition=condition,
                invoke_count=invoke_count,
                request_payload=ev.payload,
                response=ev.last_response,
                timestamp=now,
            )
            owed.append(item(DESTINATION, destination, body, {}))
        if condition != SUCCESS and (dead_letter := self._dead_letter_of(ev)) is not None:
            owed.append(
                item(
                    DEAD_LETTER,
                    dead_letter,
                    ev.payload,
                    dead_letter_attributes(ev.request_id, ev.last_response),
                )
            )
        return owed

    def _dead_letter_of(self, ev: AsyncEvent) -> str | None:
        """The DeadLetterConfig target of the version that ran the event (else the one invoked)."""
        rec = self._functions.get((ev.region, ev.account, ev.function_name))
        if rec is None:
            return None
        version = ev.last_response.executed_version if ev.last_response is not None else None
        if version is None:
            q = ev.qualifier or LATEST
            alias = rec.aliases.get(q)
            version = alias.function_version if alias is not None else q
        cfg = rec.version(version) or rec.latest
        return cfg.dead_letter_arn

    async def deliver_to_function(self, item: OutboxItem) -> None:
        """An invocation record to a Lambda function destination: an Event invocation of it."""
        if self._deps.async_engine is None:
            raise client_error("ServiceException", "Asynchronous invocation is not available.", 500)
        resource = item.target_arn.split(":", 6)
        name = resource[6] if len(resource) > 6 else ""
        qualifier = None
        if ":" in name:
            name, qualifier = name.split(":", 1)
        rec = self._functions.get((item.region, item.account, name))
        if rec is None or (
            qualifier is not None and rec.version(qualifier) is None and qualifier not in rec.aliases
        ):
            raise client_error("ResourceNotFoundException", f"Function not found: {item.target_arn}", 404)
        await self._deps.async_engine.accept(
            AsyncEvent(
                ids.request_id(),
                item.region,
                item.account,
                name,
                qualifier,
                item.body,
                self._clock.now(),
                lineage=item.lineage,
            )
        )
