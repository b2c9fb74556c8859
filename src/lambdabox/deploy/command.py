"""`lambdabox deploy`, `lambdabox remove` and the deploying half of `lambdabox up`: find and compile
the project file, show the plan, apply it with a line per resource, print endpoints and Outputs
(or JSON lines with `--json`), and with `--watch` do it again on every save."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import botocore.session
from botocore.exceptions import BotoCoreError

from lambdabox.deploy import previous_params, samconfig, source_check, stack_lock
from lambdabox.deploy.project import Project, ProjectError
from lambdabox.deploy.try_lines import try_lines
from lambdabox.target import Target

#: the files `-f` defaults to, in the order they are looked for
PROJECT_FILES = ("serverless.yml", "serverless.yaml", "template.yaml", "template.yml", "template.json")


@dataclass
class DeployOptions:
    """What `deploy` and `up` were asked for."""

    file: Path | None = None
    stage: str | None = None
    region: str | None = None
    stack_name: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    watch: bool = False
    as_json: bool = False


class NoProjectFile(Exception):
    """The project file named is not there, or none was named and none is here."""


def find_project_file(given: Path | None, cwd: Path | None = None) -> Path:
    """The project file: `given`, else the first of `PROJECT_FILES` in `cwd`."""
    if given is not None:
        if not given.is_file():
            raise NoProjectFile(f"{given}: no such file")
        return given
    here = cwd or Path.cwd()
    for name in PROJECT_FILES:
        if (here / name).is_file():
            return here / name
    raise NoProjectFile(f"no project file here ({', '.join(PROJECT_FILES)}); name one with -f FILE")


def is_serverless(path: Path) -> bool:
    """A Serverless Framework file (by name, else by its `service:` key), not a SAM template."""
    if path.name.startswith("serverless."):
        return True
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return False
    return "AWSTemplateFormatVersion" not in head and "Resources:" not in head and "\nservice:" in "\n" + head


def compile_project(
    path: Path, options: DeployOptions, region: str, serverless: bool | None = None
) -> Project:
    """The project file compiled by its front end (ProjectError names file, line and key);
    `serverless`: which front end, when the caller has looked already."""
    import os

    if is_serverless(path) if serverless is None else serverless:
        from lambdabox.deploy.serverless import compile_serverless

        opts = {"stage": options.stage} if options.stage else {}
        return compile_serverless(path, stage=options.stage, region=region, options=opts, env=os.environ)
    from lambdabox.deploy.sam import compile_sam, default_stack_name

    config = samconfig.read(path)  # the command line wins over samconfig.toml
    stack = options.stack_name or config.stack_name or default_stack_name(path)
    # as sam deploy: the values of the last deploy, then samconfig.toml's, then the command line's
    given = {**previous_params.load(path, stack), **config.parameters, **options.parameters}
    return compile_sam(path, stack_name=stack, parameters=given, region=region)


class Printer:
    """Progress for a person (lines) or for tools (`--json`: one JSON object per line)."""

    def __init__(self, as_json: bool, out: TextIO | None = None, *, compact: bool = False) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.compact = compact  # a reload's plan: only what changes

    def say(self, text: str, **fields: Any) -> None:
        if self.as_json:
            if fields:
                print(json.dumps(fields, default=str), file=self.out, flush=True)
        else:
            print(text, file=self.out, flush=True)


@functools.lru_cache(maxsize=1)
def shared_session() -> botocore.session.Session:
    """One botocore session for every deploy of this process: it loads each service model once
    (a new session per reload spent ~0.2 s of a hot reload reading the models again)."""
    return botocore.session.get_session()


def deploy_once(path: Path, options: DeployOptions, target: Target, printer: Printer) -> bool:
    """Compile, plan and apply once; False (with the reasons printed) when nothing was deployed."""
    t0 = time.monotonic()
    serverless = is_serverless(path)
    try:
        project = compile_project(path, options, target.region, serverless)
    except ProjectError as exc:
        for p in exc.problems:
            printer.say(str(p), event="problem", level=p.level, where=str(p.where), message=p.message)
        return False
    if options.parameters and serverless:
        printer.say(f"{path.name}: warning: --param is for SAM / CloudFormation templates; serverless.yml "
                    "reads ${opt:...} and ${env:...} variables", event="problem", level="warning",
                    where=path.name, message="--param ignored")  # fmt: skip
    for p in project.problems:
        printer.say(str(p), event="problem", level=p.level, where=str(p.where), message=p.message)
    try:
        with stack_lock.held(target.endpoint_url, target.region, project.stack_name):
            return _plan_and_apply(path, project, options, target, printer, t0, serverless)
    except stack_lock.StackBusy as exc:
        printer.say(f"deploy refused: {exc}", event="failed", message=str(exc))
        return False
    except BotoCoreError as exc:  # (the server is not there, or went away)
        message = f"cannot reach lambdabox at {target.endpoint_url}: {exc}"
        printer.say(f"deploy failed: {message}", event="failed", message=message)
        return False


def _plan_and_apply(
    path: Path,
    project: Project,
    options: DeployOptions,
    target: Target,
    printer: Printer,
    t0: float,
    serverless: bool,
) -> bool:
    from lambdabox.deploy.apply import ApplyError, apply_plan
    from lambdabox.deploy.plan import plan_project

    try:
        plan = plan_project(project, target.endpoint_url, region=target.region, session=shared_session())
    except ProjectError as exc:
        for p in exc.problems:
            printer.say(str(p), event="problem", level=p.level, where=str(p.where), message=p.message)
        return False
    for p in plan.problems[len(project.problems) :]:  # the engine's own warnings
        printer.say(str(p), event="problem", level=p.level, where=str(p.where), message=p.message)
    table = plan.table(changed_only=printer.compact)
    printer.say(f"stack {project.stack_name}: plan\n{table}", event="plan", **plan.to_json())
    try:
        applied = apply_plan(
            plan, project, target.endpoint_url, session=shared_session(),
            progress=lambda line: printer.say(str(line), event="applied", **line.to_json()),
        )  # fmt: skip
    except ApplyError as exc:
        printer.say(f"deploy failed: {exc}", event="failed", message=str(exc), restored=exc.restored)
        return False
    if not serverless:  # the values given now or before, not the defaults (they may change)
        given = set(previous_params.load(path, project.stack_name)) | set(options.parameters)
        kept = {k: v for k, v in project.parameters.items() if k in given}
        previous_params.save(path, project.stack_name, kept)
    elapsed = time.monotonic() - t0
    for by_host, by_path in applied.endpoints:
        printer.say(
            f"endpoint: {by_host}  (or {by_path})", event="endpoint", by_host=by_host, by_path=by_path
        )
        for line in try_lines(target, by_path, shared_session()):
            printer.say(f"  {line}", event="try", command=line)
    for name, value in applied.api_keys.items():  # as the Framework prints its "api keys:"
        printer.say(f"api key {name}: {value}", event="api_key", name=name, value=value)
    for key, value in applied.outputs.items():
        printer.say(f"output {key}: {value}", event="output", key=key, value=value)
    printer.say(f"stack {project.stack_name}: deployed in {elapsed:.2f}s", event="deployed",
                stack=project.stack_name, seconds=round(elapsed, 3))  # fmt: skip
    return True


def watch_loop(
    path: Path,
    options: DeployOptions,
    target: Target,
    printer: Printer,
    stop: threading.Event | None = None,
    redeploy: Callable[[Path, DeployOptions, Target, Printer], bool] = deploy_once,
) -> None:
    """Redeploy on every save under the project's directories until `stop` (or Ctrl-C)."""
    from lambdabox.deploy.watch import watch

    try:
        project = compile_project(path, options, target.region)
        roots = project.watch or [path.parent]
    except ProjectError:
        roots = [path.parent]
    printer.say(f"watching {', '.join(str(r) for r in roots)} (Ctrl-C to stop)", event="watching",
                paths=[str(r) for r in roots])  # fmt: skip

    def changed(files: set[Path]) -> None:
        t0 = time.monotonic()
        files = {f for f in files if f.exists()} or files  # (an editor's temporary files are gone)
        names = ", ".join(sorted(f.name for f in files))[:200]
        printer.say(f"changed: {names}", event="changed", files=sorted(str(f) for f in files))
        broken = source_check.problems(files)
        if broken:
            for line in broken:
                printer.say(f"error: {line}", event="problem", level="error", where=line.rsplit(": ", 1)[0],
                            message=line.rsplit(": ", 1)[-1])  # fmt: skip
            printer.say("not deployed: the last good code keeps serving", event="reloaded", ok=False, ms=0)
            return
        ok = redeploy(path, options, target, Printer(printer.as_json, printer.out, compact=True))
        ms = (time.monotonic() - t0) * 1000
        printer.say(
            f"{'reloaded' if ok else 'reload failed'} in {ms:.0f} ms", event="reloaded", ok=ok, ms=round(ms)
        )

    watch([*roots, path], changed, stop=stop)


def deploy_command(options: DeployOptions, target: Target) -> int:
    printer = Printer(options.as_json)
    try:
        path = find_project_file(options.file)
    except NoProjectFile as exc:
        print(f"lambdabox: {exc}", file=sys.stderr)
        return 2
    ok = deploy_once(path, options, target, printer)
    if options.watch:
        try:
            watch_loop(path, options, target, printer)
        except KeyboardInterrupt:
            return 0
    return 0 if ok else 1


def _stack_name(path: Path, options: DeployOptions, region: str) -> str:
    """The stack a project deploys to: a SAM template's without packaging its code; a
    serverless.yml's needs its variables resolved, so it is compiled."""
    if is_serverless(path):
        return compile_project(path, options, region).stack_name
    from lambdabox.deploy.sam import default_stack_name

    return options.stack_name or samconfig.read(path).stack_name or default_stack_name(path)


def remove_command(options: DeployOptions, target: Target) -> int:
    from lambdabox.deploy.apply import ApplyError, NoSuchStack, remove_stack

    printer = Printer(options.as_json)
    stack, path = options.stack_name, None
    if stack is None:
        try:
            path = find_project_file(options.file)
            stack = _stack_name(path, options, target.region)
        except (NoProjectFile, ProjectError) as exc:
            print(f"lambdabox: {exc}", file=sys.stderr)
            return 2
    try:
        with stack_lock.held(target.endpoint_url, target.region, stack):
            remove_stack(
                stack, target.endpoint_url, region=target.region, session=shared_session(),
                progress=lambda line: printer.say(str(line), event="removed_resource", **line.to_json()),
            )  # fmt: skip
    except (ApplyError, NoSuchStack, stack_lock.StackBusy) as exc:
        printer.say(f"remove failed: {exc}", event="failed", message=str(exc))
        return 1
    except BotoCoreError as exc:
        message = f"cannot reach lambdabox at {target.endpoint_url}: {exc}"
        printer.say(f"remove failed: {message}", event="failed", message=message)
        return 1
    if path is not None:
        previous_params.forget(path, stack)  # a new stack of that name starts from the defaults
    printer.say(f"stack {stack}: removed", event="removed", stack=stack)
    return 0
