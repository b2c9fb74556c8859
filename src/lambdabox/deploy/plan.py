"""Desired (the project's template) vs deployed (read through the AWS API) -> a `Plan` of frozen
records, one per resource: create, update, replace, delete or unchanged.

Where the state lives: where AWS keeps it, on the resources themselves. Every taggable resource
the engine creates (Lambda functions, IAM roles, log groups, HTTP APIs and their stages, REST APIs
and their stages, API keys and usage plans, SQS queues, SNS topics) carries CloudFormation's own tags `aws:cloudformation:stack-name` and
`aws:cloudformation:logical-id`; functions, roles, log groups, queues and topics (whose tags can change
after creation) also carry `lambdabox:properties-sha`, a short hash per resolved property
(`Code=1a2b3c4d Handler=...`), so an unchanged resource is seen to be unchanged with reads only
and a changed one names the properties that changed. apigateway and apigatewayv2 cannot retag, so
APIs, stages, keys and plans are compared with what GetApis / GetStages / ... answer.

Untaggable children are found through their parent (the stack's tagged resources) and matched by
a natural key computed from the desired, resolved properties:

    AWS::ApiGatewayV2::Route         (ApiId, RouteKey)
    AWS::ApiGatewayV2::Integration   (ApiId, IntegrationType, IntegrationUri, PayloadFormatVersion)
    AWS::ApiGatewayV2::Stage         (ApiId, StageName)             -- also tagged, at creation
    AWS::ApiGatewayV2::Authorizer    (ApiId, Name)
    AWS::ApiGateway::Resource        (RestApiId, ParentId, PathPart)
    AWS::ApiGateway::Method          (RestApiId, ResourceId, HttpMethod)
    AWS::ApiGateway::Deployment      (RestApiId, Description or the logical id)
    AWS::ApiGateway::Stage           (RestApiId, StageName)         -- also tagged, at creation
    AWS::ApiGateway::Authorizer      (RestApiId, Name)
    AWS::ApiGateway::UsagePlanKey    (UsagePlanId, KeyId)
    AWS::Lambda::Version             (function ARN, CodeSha256 of the template's code, Description)
    AWS::Lambda::Alias               (function ARN, Name)
    AWS::Lambda::Permission          (function ARN [:qualifier], statement id = the logical id)
    AWS::Lambda::EventSourceMapping  (function ARN, EventSourceArn)
    AWS::Lambda::LayerVersion        (LayerName, CodeSha256 of the template's content) -- the
                                     layer versions the stack's functions name
    AWS::SNS::Subscription           (TopicArn, Protocol, Endpoint)  -- of the stack's topics,
                                     or to its functions and queues
    AWS::SQS::QueuePolicy            (the logical id, from its queues' tag lambdabox:queue-policy)
    AWS::SNS::TopicPolicy            (the logical id, from its topics' tag lambdabox:topic-policy)

A key whose parts are not known yet (the parent is to be created or replaced) matches nothing: the
child is created. A deployed child that no desired one matches is deleted. A changed key is a
delete of the old child and a create of the new (an integration pointed at a new function). A REST
Deployment is replaced when any Resource, Method or Authorizer of its API changes, so that its
stage serves the new methods. A deleted resource's row names it by its logical id, or for an
untaggable child as its handler's `describe` does (`Route GET /old`, `Version 3 of fn`).
Consequences worth knowing: children of resources outside the stack (a Permission on a function
the stack does not own) are not found again once the template drops them; and what is deployed by
the engine is told apart from what was made by hand only by the tags above.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import botocore.session

from lambdabox.deploy.intrinsics import UNKNOWN, Template, contains_unknown
from lambdabox.deploy.project import Problem, Project, ProjectError, Where
from lambdabox.deploy.resources import HANDLERS
from lambdabox.deploy.resources.base import Clients, Deployed, Handler, Props
from lambdabox.deploy.resources.lambda_ import remember_code

Action = Literal["create", "update", "replace", "delete", "unchanged"]
_IGNORED_KEYS = frozenset(["Type", "Properties", "DependsOn", "Condition", "Metadata"])
#: what a REST Deployment snapshots of its API
_SNAPSHOTTED = ("AWS::ApiGateway::Method", "AWS::ApiGateway::Resource", "AWS::ApiGateway::Authorizer")


@dataclass(frozen=True)
class PlanRecord:
    action: Action
    logical_id: str
    type: str
    physical_id: str | None = None
    changes: tuple[str, ...] = ()
    deployed: Deployed | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    stack_name: str
    region: str
    account_id: str
    records: tuple[PlanRecord, ...]  # the template's resources in dependency order, then deletes
    problems: tuple[Problem, ...] = ()
    template: Template | None = field(default=None, compare=False, repr=False)

    @property
    def changed(self) -> bool:
        return any(r.action != "unchanged" for r in self.records)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.records:
            out[r.action] = out.get(r.action, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The plan for --json: each record's action, logical id, type, physical id and changes."""
        return {
            "stack": self.stack_name,
            "region": self.region,
            "resources": [
                {
                    "action": r.action,
                    "logical_id": r.logical_id,
                    "type": r.type,
                    "physical_id": r.physical_id,
                    "changes": list(r.changes),
                }
                for r in self.records
            ],
            "problems": [str(p) for p in self.problems],
        }

    def table(self, *, changed_only: bool = False) -> str:
        """The plan as a text table: action, logical id, type, physical id, changed properties
        (`changed_only`: without the unchanged rows, as a reload shows it)."""
        rows = [("ACTION", "RESOURCE", "TYPE", "PHYSICAL ID", "CHANGES")]
        rows += [
            (r.action, r.logical_id, r.type, r.physical_id or "-", ", ".join(r.changes) or "-")
            for r in self.records
            if not (changed_only and r.action == "unchanged")
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
            for row in rows
        ]
        summary = ", ".join(f"{n} {a}" for a, n in sorted(self.counts().items()))
        return "\n".join([*(line.rstrip() for line in lines), f"{self.stack_name}: {summary or 'nothing'}"])


def check_template(project: Project, account_id: str, region: str) -> tuple[Template, list[Problem]]:
    """The project's template checked (ProjectError on errors), with warnings for what is skipped."""
    file = project.source.name if project.source else "template"
    resources = dict((project.template or {}).get("Resources") or {})
    extra: dict[str, set[str]] = {}
    for lid, res in resources.items():  # a REST deployment snapshots its API's methods: after them
        if isinstance(res, dict) and res.get("Type") == "AWS::ApiGateway::Deployment":
            api = json.dumps((res.get("Properties") or {}).get("RestApiId"), sort_keys=True)
            extra[lid] = {
                other
                for other, r in resources.items()
                if isinstance(r, dict)
                and r.get("Type") in _SNAPSHOTTED
                and json.dumps((r.get("Properties") or {}).get("RestApiId"), sort_keys=True) == api
            }
    template = Template(
        project.template,
        project.parameters,
        stack_name=project.stack_name,
        region=region,
        account_id=account_id,
        file=file,
        lines=project.lines,
        extra_deps=extra,
        attributes=lambda t: HANDLERS[t].attributes if t in HANDLERS else None,
    )
    warnings: list[Problem] = []
    errors: list[Problem] = []
    for lid in template.order:
        res = template.resources[lid]
        key = f"Resources.{lid}"
        line = project.lines.get(lid)
        handler = HANDLERS.get(res["Type"])
        if handler is None:
            warnings.append(
                Problem(
                    "warning",
                    Where(file, line, key),
                    f"resource type {res['Type']} is not supported: not deployed",
                )
            )
            continue
        for dep in template.deps[lid]:
            if template.resources[dep]["Type"] not in HANDLERS:
                errors.append(
                    Problem("error", Where(file, line, key), f"refers to {dep}, whose type is not supported")
                )
        for prop, value in (res.get("Properties") or {}).items():
            if prop not in handler.properties and value not in ("", None, {}, []):  # (empty: no setting)
                warnings.append(
                    Problem(
                        "warning",
                        Where(file, line, f"{key}.Properties.{prop}"),
                        f"{res['Type']} property {prop} is not supported: ignored",
                    )
                )
        properties = res.get("Properties") or {}
        for level, prop, message in handler.check(properties if isinstance(properties, dict) else {}):
            problem = Problem(level, Where(file, line, f"{key}.Properties.{prop}"), message)
            (errors if level == "error" else warnings).append(problem)
        for other in res:
            retained_version = res["Type"] == "AWS::Lambda::Version" and res[other] == "Retain"
            if (
                other in ("DeletionPolicy", "UpdateReplacePolicy")
                and res[other] != "Delete"
                and not retained_version
            ):
                warnings.append(
                    Problem(
                        "warning",
                        Where(file, line, f"{key}.{other}"),
                        f"{other} {res[other]} is not supported: resources are deleted",
                    )
                )
            elif other not in _IGNORED_KEYS | {"DeletionPolicy", "UpdateReplacePolicy"}:
                warnings.append(
                    Problem(
                        "warning", Where(file, line, f"{key}.{other}"), f"{other} is not supported: ignored"
                    )
                )
    if errors:
        raise ProjectError(errors)
    return template, warnings


def desired_properties(template: Template, lid: str, lookup: Callable[[str, str | None], Any]) -> Props:
    """A resource's resolved properties, less those its handler does not deploy (warned of)."""
    handler = HANDLERS[template.resources[lid]["Type"]]
    props = template.properties(lid, lookup)
    return {k: v for k, v in props.items() if k in handler.properties}


def scan(c: Clients, stack: str) -> list[Deployed]:
    """Everything deployed for `stack`: its tagged resources, then their children."""
    found: list[Deployed] = []
    for handler in HANDLERS.values():
        if handler.tagged:
            found += handler.find(c, stack, [])
    for handler in HANDLERS.values():
        if not handler.tagged:
            kinds = {handler.parent_type, *handler.other_parents}
            found += handler.find(c, stack, [d for d in found if d.type in kinds])
    return found


def lookup_in(template: Template, known: dict[str, Deployed | Any]) -> Callable[[str, str | None], Any]:
    def lookup(lid: str, attr: str | None) -> Any:
        d = known.get(lid, UNKNOWN)
        if d is UNKNOWN or not isinstance(d, Deployed):
            return UNKNOWN
        return d.physical_id if attr is None else d.attributes.get(attr, UNKNOWN)

    return lookup


def plan_project(
    project: Project,
    endpoint_url: str,
    *,
    region: str | None = None,
    session: botocore.session.Session | None = None,
) -> Plan:
    """Read what is deployed for the project's stack and say what an apply would do (reads only)."""
    region = region or project.region
    c = Clients(endpoint_url, region, session)
    template, warnings = check_template(project, c.account_id, region)
    c.artifacts = {k: a.zip_bytes for k, a in project.artifacts.items()}
    deployed = scan(c, project.stack_name)
    force: set[str] = set()
    while True:
        records = _plan_pass(c, template, project.stack_name, deployed, force)
        more = _stale_deployments(template, records) - force
        if not more:
            break
        force |= more
    problems = (*project.problems, *warnings)
    return Plan(project.stack_name, region, c.account_id, tuple(records), problems, template)


def _plan_pass(
    c: Clients, template: Template, stack: str, deployed: list[Deployed], force: set[str]
) -> list[PlanRecord]:
    tagged: dict[tuple[str, str | None], Deployed] = {
        (d.type, d.logical_id): d for d in deployed if d.logical_id
    }
    children = {(d.type, d.key): d for d in deployed if d.key is not None}
    left = {id(d): d for d in deployed}
    known: dict[str, Any] = {}
    lookup = lookup_in(template, known)
    records: list[PlanRecord] = []
    for lid in template.order:
        rtype = template.resources[lid]["Type"]
        handler = HANDLERS.get(rtype)
        if handler is None:
            continue
        props = desired_properties(template, lid, lookup)
        match = _match(c, handler, lid, props, tagged, children)
        if rtype == "AWS::Lambda::Function":
            remember_code(c, props, match)
        if match is None:
            known[lid] = UNKNOWN
            records.append(PlanRecord("create", lid, rtype))
            continue
        left.pop(id(match), None)
        if contains_unknown(props):
            changed = sorted(k for k, v in props.items() if contains_unknown(v))
        else:
            changed = handler.changes(props, match)
        replace = lid in force or bool(set(changed) & handler.immutable)
        action: Action = "replace" if replace else "update" if changed else "unchanged"
        known[lid] = UNKNOWN if replace else match
        if lid in force and not changed:
            changed = ["(its API's methods or authorizers)"]
        records.append(PlanRecord(action, lid, rtype, match.physical_id, tuple(changed), match))
    kept = _retained_versions(c, template, lookup)
    gone = sorted(
        (d for d in left.values() if not (d.type == "AWS::Lambda::Version" and d.parent in kept)),
        key=lambda d: HANDLERS[d.type].delete_rank,
    )
    records += [
        PlanRecord("delete", HANDLERS[d.type].describe(d), d.type, d.physical_id, (), d) for d in gone
    ]
    return records


def _retained_versions(c: Clients, template: Template, lookup: Callable[[str, str | None], Any]) -> set[str]:
    """The functions whose earlier versions stay: those whose template Versions say
    `DeletionPolicy: Retain` (as the Serverless Framework's do: CloudFormation keeps a Version
    the template no longer has, so every deploy's version stays published)."""
    out: set[str] = set()
    for lid, res in template.resources.items():
        if res.get("Type") != "AWS::Lambda::Version" or res.get("DeletionPolicy") != "Retain":
            continue
        name = desired_properties(template, lid, lookup).get("FunctionName")
        if isinstance(name, str) and not contains_unknown(name):
            out.add(":".join(c.function_arn(name).split(":")[:7]))
    return out


def _match(
    c: Clients,
    handler: Handler,
    lid: str,
    props: Props,
    tagged: dict[tuple[str, str | None], Deployed],
    children: dict[tuple[str, Any], Deployed],
) -> Deployed | None:
    if handler.tagged:
        return tagged.get((handler.type, lid))
    try:
        key = handler.key(c, lid, props)
    except KeyError:  # a required property missing: creating it will say so
        return None
    if key is None or contains_unknown(list(key)):
        return None
    return children.get((handler.type, key))


def _stale_deployments(template: Template, records: list[PlanRecord]) -> set[str]:
    """REST Deployments whose API has a Resource, Method or Authorizer that changes."""
    changed_apis: set[str] = set()
    for r in records:
        if r.type in _SNAPSHOTTED and r.action != "unchanged":
            if r.deployed is not None and r.deployed.parent:
                changed_apis.add(r.deployed.parent)
            elif r.action == "create" and r.logical_id in template.resources:
                changed_apis.add(
                    json.dumps(template.resources[r.logical_id].get("Properties", {}).get("RestApiId"))
                )
    stale = set()
    for r in records:
        if r.type == "AWS::ApiGateway::Deployment" and r.action == "unchanged" and r.deployed is not None:
            raw = json.dumps(template.resources[r.logical_id].get("Properties", {}).get("RestApiId"))
            if r.deployed.parent in changed_apis or raw in changed_apis:
                stale.add(r.logical_id)
    return stale
