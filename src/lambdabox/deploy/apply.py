"""Run a `Plan`: creates, updates and replacements' new halves in dependency order, then deletes
(the template's dropped resources and replacements' old halves, children before parents), a
progress line per resource with its time, and the Outputs resolved at the end.

A failure before the deletes leaves the previous deployment serving: what this apply created is
deleted and what it updated is put back from the properties read before the update, in reverse
order, and `ApplyError` names the resource and AWS's message. A delete that fails after that is a
warning (the new deployment serves already). `remove_stack` deletes everything tagged with a stack.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from lambdabox.api_urls import urls
from lambdabox.deploy.plan import Plan, PlanRecord, desired_properties, lookup_in, scan
from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.resources import HANDLERS
from lambdabox.deploy.resources.base import (
    PROPS_TAG,
    Clients,
    Deployed,
    Handler,
    Props,
    error_message,
    is_not_found,
)
from lambdabox.deploy.resources.lambda_ import remember_code


@dataclass(frozen=True)
class ProgressLine:
    """One resource applied: what was done, how long it took, and how it ended."""

    action: str  # create / update / replace / delete / rollback
    logical_id: str
    type: str
    status: str  # "done", "failed", "rolled back", "warning"
    seconds: float
    physical_id: str | None = None
    message: str = ""

    def __str__(self) -> str:
        tail = f"  {self.message}" if self.message else ""
        return f"{self.action:<9} {self.logical_id:<30} {self.type:<32} {self.status:<11} {self.seconds:6.2f}s{tail}"

    def to_json(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("action", "logical_id", "type", "status", "seconds", "physical_id", "message")
        }


Progress = Callable[[ProgressLine], None]


@dataclass(frozen=True)
class Applied:
    stack_name: str
    physical_ids: dict[str, str]  # logical id -> physical id
    outputs: dict[str, Any]
    #: each stage's URLs: (by host <id>.execute-api.localhost:<port>/<stage>/, by path <endpoint>/_apis/<id>/<stage>/)
    endpoints: list[tuple[str, str]]
    lines: list[ProgressLine] = field(default_factory=list)
    #: the stack's API keys, name -> value (the Serverless Framework prints them as `api keys:`)
    api_keys: dict[str, str] = field(default_factory=dict)


class ApplyError(Exception):
    """An apply failed at `logical_id`; what it had changed was rolled back (`lines` say how)."""

    def __init__(self, logical_id: str, rtype: str, message: str, lines: list[ProgressLine]) -> None:
        self.logical_id, self.type, self.message, self.lines = logical_id, rtype, message, lines
        #: every change this apply made was undone (else: CloudFormation's UPDATE_ROLLBACK_FAILED)
        self.restored = not any(x.action == "rollback" and x.status != "rolled back" for x in lines)
        outcome = (
            "the previous deployment was restored"
            if self.restored
            else "the rollback failed too: the stack is left partly changed (deploy again to converge)"
        )
        super().__init__(f"{logical_id} ({rtype}): {message}; {outcome}")


class NoSuchStack(Exception):
    """`remove` of a stack nothing is tagged with."""


@dataclass
class _Undo:
    handler: Handler
    logical_id: str
    now: Deployed
    before: Props | None = None  # None: created by this apply (undo deletes it)
    props_tag: str | None = None


def apply_plan(
    plan: Plan,
    project: Project,
    endpoint_url: str,
    progress: Progress = lambda _line: None,
    *,
    session: botocore.session.Session | None = None,
) -> Applied:
    assert plan.template is not None, "a Plan from plan_project"
    template = plan.template
    c = Clients(endpoint_url, plan.region, session)
    c.artifacts = {k: a.zip_bytes for k, a in project.artifacts.items()}
    lines: list[ProgressLine] = []

    def emit(line: ProgressLine) -> None:
        lines.append(line)
        progress(line)

    known: dict[str, Any] = {
        r.logical_id: r.deployed for r in plan.records if r.action in ("unchanged", "update")
    }
    lookup = lookup_in(template, known)
    undo: list[_Undo] = []
    old_halves: list[PlanRecord] = []
    try:
        for record in plan.records:
            if record.action in ("unchanged", "delete"):
                continue
            handler = HANDLERS[record.type]
            started = time.monotonic()
            try:
                props = desired_properties(template, record.logical_id, lookup)
                if record.action == "update" and record.deployed is not None:
                    d = _update(c, plan.stack_name, handler, record, props, undo)
                else:
                    d = handler.create(c, plan.stack_name, record.logical_id, props)
                    undo.append(_Undo(handler, record.logical_id, d))
                    if record.action == "replace":
                        old_halves.append(record)
                if record.type == "AWS::Lambda::Function":
                    remember_code(c, props, d)
            except (ClientError, BotoCoreError, ProjectError, RuntimeError, ValueError, KeyError) as exc:
                message = error_message(exc) if not isinstance(exc, KeyError) else f"missing property {exc}"
                emit(
                    ProgressLine(
                        record.action,
                        record.logical_id,
                        record.type,
                        "failed",
                        time.monotonic() - started,
                        record.physical_id,
                        message,
                    )
                )
                _rollback(c, plan.stack_name, undo, emit)
                raise ApplyError(record.logical_id, record.type, message, lines) from exc
            known[record.logical_id] = d
            emit(
                ProgressLine(
                    record.action,
                    record.logical_id,
                    record.type,
                    "done",
                    time.monotonic() - started,
                    d.physical_id,
                )
            )
    except ApplyError:
        raise
    except BaseException as exc:  # interrupted (Ctrl-C, a closed pipe, a bug): undo what this apply did
        _rollback(c, plan.stack_name, undo, _quiet(emit))
        if isinstance(exc, Exception):
            raise ApplyError("(apply)", "-", f"interrupted: {type(exc).__name__}: {exc}", lines) from exc
        raise
    deletes = [r for r in plan.records if r.action == "delete"] + old_halves
    for record in sorted(deletes, key=lambda r: HANDLERS[r.type].delete_rank):
        assert record.deployed is not None
        emit(_delete(c, record.deployed, record.logical_id))
    outputs = template.output_values(lookup)
    ids = {lid: d.physical_id for lid, d in known.items() if isinstance(d, Deployed)}
    stages = [  # a REST Deployment's StageName makes a stage that is no resource of the template
        (d.parent, str(desired_properties(template, lid, lookup)["StageName"]))
        for lid, d in known.items()
        if isinstance(d, Deployed)
        and d.type == "AWS::ApiGateway::Deployment"
        and d.parent
        and "StageName" in (template.resources[lid].get("Properties") or {})
    ]
    keys = {
        str(d.observed.get("name") or lid): str(d.observed["value"])
        for lid, d in sorted(known.items())
        if isinstance(d, Deployed) and d.type == "AWS::ApiGateway::ApiKey" and "value" in d.observed
    }
    return Applied(plan.stack_name, ids, outputs, _endpoints(endpoint_url, known, stages), lines, keys)


def _update(
    c: Clients, stack: str, handler: Handler, record: PlanRecord, props: Props, undo: list[_Undo]
) -> Deployed:
    deployed = record.deployed
    assert deployed is not None
    if not handler.changes(props, deployed):  # planned on values known only now: they are the same
        return deployed
    before = handler.snapshot(c, deployed)
    d = handler.update(c, stack, deployed, props)
    undo.append(_Undo(handler, record.logical_id, d, before, deployed.tags.get(PROPS_TAG)))
    return d


def _quiet(emit: Progress) -> Progress:
    """`emit` that cannot fail: a rollback goes on when its progress cannot be printed."""

    def quiet(line: ProgressLine) -> None:
        with contextlib.suppress(Exception):  # (a closed pipe: `emit` collected the line first)
            emit(line)

    return quiet


def _rollback(c: Clients, stack: str, undo: list[_Undo], emit: Progress) -> None:
    for u in reversed(undo):
        started = time.monotonic()
        try:
            if u.before is None:
                u.handler.delete(c, u.now)
            else:
                u.handler.update(c, stack, u.now, u.before, props_tag=u.props_tag or "")
            status, message = "rolled back", ""
        except (ClientError, BotoCoreError, RuntimeError, ValueError) as exc:
            status, message = "warning", f"could not roll back: {error_message(exc)}"
        emit(
            ProgressLine(
                "rollback",
                u.logical_id,
                u.handler.type,
                status,
                time.monotonic() - started,
                u.now.physical_id,
                message,
            )
        )


def _delete(c: Clients, d: Deployed, label: str) -> ProgressLine:
    started = time.monotonic()
    status, message = "done", ""
    try:
        HANDLERS[d.type].delete(c, d)
    except ClientError as exc:
        if not is_not_found(exc):
            status, message = "warning", f"not deleted: {error_message(exc)}"
    return ProgressLine("delete", label, d.type, status, time.monotonic() - started, d.physical_id, message)


def _endpoints(
    endpoint_url: str, known: dict[str, Any], more: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Each stage's URLs: the template's Stage resources, and `more` (API id, stage name)."""
    out = []
    for d in known.values():
        if (
            isinstance(d, Deployed)
            and d.parent
            and d.type in ("AWS::ApiGatewayV2::Stage", "AWS::ApiGateway::Stage")
        ):
            out.append(urls(endpoint_url, d.parent, d.physical_id))
    out += [urls(endpoint_url, api, stage) for api, stage in more]
    return sorted(set(out))


@dataclass(frozen=True)
class Removed:
    stack_name: str
    lines: list[ProgressLine]


def remove_stack(
    stack_name: str,
    endpoint_url: str,
    progress: Progress = lambda _line: None,
    *,
    region: str = "us-east-1",
    session: botocore.session.Session | None = None,
) -> Removed:
    """Delete every resource of the stack (found by its tags), children before parents."""
    c = Clients(endpoint_url, region, session)
    lines = []
    found = scan(c, stack_name) if stack_name else []
    if not found:  # as `sam delete` / `sls remove` answer a stack that is not there
        raise NoSuchStack(f"Stack with id {stack_name} does not exist")
    for d in sorted(found, key=lambda d: HANDLERS[d.type].delete_rank):
        line = _delete(c, d, HANDLERS[d.type].describe(d))
        lines.append(line)
        progress(line)
    return Removed(stack_name, lines)
