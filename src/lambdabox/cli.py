"""The `lambdabox` command: parses flags and hands over to the app; nothing else lives here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lambdabox import __version__
from lambdabox.config import Settings
from lambdabox.deploy.command import DeployOptions
from lambdabox.logs.tail import SINCE, tail
from lambdabox.target import Target


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lambdabox",
        description="A self-hosted AWS Lambda platform. Point boto3 or the AWS CLI at it with --endpoint-url.",
    )
    p.add_argument("--version", action="version", version=f"lambdabox {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the server (Lambda + CloudWatch Logs APIs on one port)",
        description="Serve every lambdabox AWS service on one port. Each flag can also be set with the "
        "environment variable LAMBDABOX_<FLAG> (e.g. LAMBDABOX_PORT); a flag wins over the variable.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 4566)")
    serve.add_argument("--data-dir", help="where state is kept (default ~/.local/share/lambdabox)")
    serve.add_argument("--region", help="region assumed for unsigned requests (default us-east-1)")
    serve.add_argument("--account-id", help="account id in ARNs (default 000000000000)")
    serve.add_argument(
        "--idle-timeout", type=float, help="seconds before an idle environment is stopped (default 600)"
    )
    serve.add_argument("--concurrency-limit", type=int, help="account concurrent executions (default 1000)")
    serve.add_argument("--sync", choices=["FULL", "NORMAL"], help="store durability (default FULL)")
    serve.add_argument("--log-level", help="server log level (default INFO)")
    serve.add_argument(
        "--function-network",
        choices=["host", "none"],
        help="functions' network: host (default: the host's) or none (loopback only: their Runtime API "
        "and lambdabox's AWS endpoint)",
    )
    serve.add_argument(
        "--cold-start",
        choices=["template", "spawn"],
        help="new Python environments: template (default: forked from a pre-initialised interpreter, "
        "confined as a spawned one) or spawn (a new interpreter each)",
    )
    serve.add_argument(
        "--async-dispatch",
        choices=["run", "paused"],
        help="asynchronous invocations and SNS deliveries: run (default) or paused (accepted and stored, not run)",
    )
    serve.add_argument(
        "--runtime-sdk-dir",
        help="where the AWS SDK sets bundled for functions are (default <venv>/share/lambdabox/runtime-sdk)",
    )
    serve.add_argument(
        "--verify-signatures",
        action="store_true",
        default=None,
        help="check SigV4 signatures against the root keys, IAM access keys and STS credentials",
    )
    serve.add_argument(
        "--root-keys",
        help="root access keys, ID:SECRET[:ACCOUNT] comma separated (default test:test)",
    )
    serve.add_argument(
        "--check-roles",
        action="store_true",
        default=None,
        help="refuse functions whose execution role does not exist in IAM or does not trust "
        "lambda.amazonaws.com, as AWS does (default: any well-formed role ARN is accepted)",
    )
    serve.add_argument(
        "--enforce-resource-policies",
        action="store_true",
        default=None,
        help="let functions' resource-based policies (AddPermission) decide AWS services' invokes "
        "(SNS, API Gateway) and other accounts' calls, as AWS does (default: services always may "
        "invoke, other accounts never may); see the README's 'Resource policies'",
    )
    serve.add_argument(
        "--clock",
        choices=["system", "manual"],
        help="system (default: real time) or manual: starts at the current time, paused, and moves only "
        "through POST /_lambdabox/clock (retries, timeouts, expiry testable in milliseconds)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="deploy the demo function 'hello' and print how to call it"
    )

    logs = sub.add_parser(
        "logs",
        help="print (and follow) a function's logs",
        description="Print a function's log events (its log group /aws/lambda/NAME) through the "
        "CloudWatch Logs API of a lambdabox server, like `aws logs tail`. Signed with AWS_ACCESS_KEY_ID / "
        "AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) when set, else test/test.",
    )
    logs.add_argument(
        "function", help="function name (log group /aws/lambda/NAME), or a log group name starting with /"
    )
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new events until Ctrl-C")
    logs.add_argument(
        "--since",
        type=float,
        default=SINCE,
        metavar="SECONDS",
        help=f"start this many seconds ago (default {SINCE:.0f}: ten minutes)",
    )
    logs.add_argument(
        "--endpoint-url",
        default=None,
        metavar="URL",
        help="the server (default: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS, else AWS_ENDPOINT_URL, else "
        "LAMBDABOX_HOST/LAMBDABOX_PORT, else http://127.0.0.1:4566)",
    )
    logs.add_argument(
        "--region",
        default=None,
        help="region (default: AWS_REGION, else AWS_DEFAULT_REGION, else LAMBDABOX_REGION, else us-east-1)",
    )
    apis = sub.add_parser(
        "apis",
        help="list the HTTP and REST APIs a server serves, with both URLs of each stage",
        description="List every stage of every API Gateway HTTP API and REST API of a lambdabox server, "
        "each with the URL by host (http://<api-id>.execute-api.localhost:<port>/<stage>/) and by path "
        "(<endpoint>/_apis/<api-id>/<stage>/, for clients that cannot resolve subdomains).",
    )
    apis.add_argument("--endpoint-url", default=None, metavar="URL", help="the server (as for `logs`)")
    apis.add_argument("--region", default=None, help="region (as for `logs`)")

    deploy = sub.add_parser(
        "deploy",
        help="deploy a serverless.yml or SAM template into a running server",
        description="Compile a Serverless Framework serverless.yml or an AWS SAM / CloudFormation template, "
        "show the plan (create / update / delete / unchanged per resource) and apply it through the AWS APIs "
        "of a running lambdabox, as a user's own calls would. Applying it again changes nothing; a failed "
        "apply is rolled back and the previous deployment keeps serving.",
    )
    _project_flags(deploy)
    deploy.add_argument("--endpoint-url", default=None, metavar="URL", help="the server (as for `logs`)")
    deploy.add_argument("--region", default=None, help="region (as for `logs`)")
    up = sub.add_parser(
        "up",
        help="serve and deploy a project in one command",
        description="Start a server (as `serve`) and deploy the project into it (as `deploy`).",
    )
    _project_flags(up)
    up.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="port to listen on (default 4566)")
    up.add_argument("--data-dir", help="where state is kept (default ~/.local/share/lambdabox)")
    up.add_argument("--region", help="region (default us-east-1)")
    up.add_argument("--log-level", help="server log level (default WARNING)")
    up.add_argument(
        "--demo", action="store_true", help="also deploy the demo function 'hello' (as `serve --demo`)"
    )
    remove = sub.add_parser(
        "remove",
        help="delete a deployed stack",
        description="Delete every resource of a stack deployed by `deploy` or `up` (found by their "
        "aws:cloudformation:stack-name tag): the stack of the project file, or --stack-name.",
    )
    remove.add_argument(
        "-f", "--file", type=Path, help="the project file (default: serverless.yml or template.yaml here)"
    )
    remove.add_argument("--stage", help="the serverless.yml stage (default: the file's, else dev)")
    remove.add_argument("--stack-name", help="the stack to delete")
    remove.add_argument("--json", action="store_true", help="progress as JSON lines")
    remove.add_argument("--endpoint-url", default=None, metavar="URL", help="the server (as for `logs`)")
    remove.add_argument("--region", default=None, help="region (as for `logs`)")
    return p


def _project_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-f", "--file", type=Path,
        help="serverless.yml or a SAM template (default: serverless.yml, template.yaml, ... here)",
    )  # fmt: skip
    p.add_argument("--stage", help="the serverless.yml stage (default: the file's provider.stage, else dev)")
    p.add_argument("--stack-name", help="a SAM template's stack name (default: the project directory's name)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a template Parameter's value (repeatable)",
    )
    p.add_argument("--watch", action="store_true", help="redeploy the code on every save")
    p.add_argument("--json", action="store_true", help="progress as JSON lines, for tools")


def _deploy_options(args: argparse.Namespace) -> DeployOptions:
    params: dict[str, str] = {}
    for given in getattr(args, "param", []):
        key, sep, value = given.partition("=")
        if not sep or not key:
            raise ValueError(f"--param {given!r}: expected KEY=VALUE")
        params[key] = value
    return DeployOptions(
        file=args.file, stage=args.stage, region=args.region, stack_name=args.stack_name, parameters=params,
        watch=getattr(args, "watch", False), as_json=args.json,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "logs":
        try:
            target = Target.resolve("CloudWatch Logs", endpoint_url=args.endpoint_url, region=args.region)
        except ValueError as exc:
            print(f"lambdabox: {exc}", file=sys.stderr)
            return 2
        try:
            return tail(target, args.function, follow=args.follow, since=args.since)
        except KeyboardInterrupt:
            return 0
    if args.command == "apis":
        from lambdabox import api_urls

        try:
            target = Target.resolve("ApiGatewayV2", endpoint_url=args.endpoint_url, region=args.region)
        except ValueError as exc:
            print(f"lambdabox: {exc}", file=sys.stderr)
            return 2
        return api_urls.show(target)
    if args.command in ("deploy", "remove"):
        from lambdabox.deploy.command import deploy_command, remove_command

        try:
            options = _deploy_options(args)
            target = Target.resolve("Lambda", endpoint_url=args.endpoint_url, region=args.region)
        except ValueError as exc:
            print(f"lambdabox: {exc}", file=sys.stderr)
            return 2
        return (
            deploy_command(options, target) if args.command == "deploy" else remove_command(options, target)
        )
    if args.command == "up":
        return _up(args)
    _parser().print_help()
    return 2


def _serve(args: argparse.Namespace) -> int:
    return _start(_serve_flags(args), demo=args.demo)


def _serve_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "region": args.region,
        "account_id": args.account_id,
        "idle_timeout": args.idle_timeout,
        "concurrency_limit": args.concurrency_limit,
        "sync": args.sync,
        "log_level": args.log_level,
        "function_network": args.function_network,
        "runtime_sdk_dir": args.runtime_sdk_dir,
        "verify_signatures": args.verify_signatures,
        "root_keys": args.root_keys,
        "check_roles": args.check_roles,
        "enforce_resource_policies": args.enforce_resource_policies,
        "async_dispatch": args.async_dispatch,
        "clock": args.clock,
        "cold_start": args.cold_start,
    }


def _up(args: argparse.Namespace) -> int:
    """`serve` with the project deployed once the server is ready (and redeployed on save)."""
    from lambdabox.deploy.command import find_project_file

    try:
        options = _deploy_options(args)
        path = find_project_file(options.file)
    except Exception as exc:  # (NoProjectFile, ValueError)
        print(f"lambdabox: {exc}", file=sys.stderr)
        return 2
    flags = {"host": args.host, "port": args.port, "data_dir": args.data_dir, "region": args.region,
             "log_level": args.log_level or "WARNING"}  # fmt: skip
    return _start(flags, demo=args.demo, project=(path, options))


def _start(flags: dict[str, Any], *, demo: bool, project: tuple[Path, DeployOptions] | None = None) -> int:
    try:
        settings = Settings.resolve(flags)
    except ValueError as exc:
        print(f"lambdabox: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        after = None if project is None else _deployer(settings, *project)
        return asyncio.run(_run(settings, demo=demo, after_ready=after))
    except OSError as exc:
        print(f"lambdabox: cannot start: {exc}", file=sys.stderr)
        return 1


def _deployer(settings: Settings, path: Path, options: DeployOptions) -> Callable[[str], Awaitable[None]]:
    """What `up` does once its server answers: deploy (in a thread: deploy is a blocking AWS
    client), then watch for saves until the server stops."""
    from lambdabox.deploy.command import Printer, deploy_once, watch_loop

    stop = threading.Event()

    async def after_ready(endpoint_url: str) -> None:
        key = next(iter(settings.root_keys.split(",")), "test:test").split(":")
        target = Target(endpoint_url, settings.region, key[0], key[1] if len(key) > 1 else "test")
        printer = Printer(options.as_json)
        ok = await asyncio.to_thread(deploy_once, path, options, target, printer)
        if not ok and not options.watch:
            print("lambdabox: the project did not deploy (the server keeps serving; fix it and run "
                  "`lambdabox deploy`, or use --watch)", file=sys.stderr, flush=True)  # fmt: skip
        if options.watch:
            try:
                await asyncio.to_thread(watch_loop, path, options, target, printer, stop)
            finally:
                stop.set()

    return after_ready


async def _run(
    settings: Settings, *, demo: bool, after_ready: Callable[[str], Awaitable[None]] | None = None
) -> int:
    from lambdabox import demo as demo_mod
    from lambdabox.app import App

    app = App(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    await app.start()
    try:
        if demo:
            await demo_mod.deploy(app.lambda_service, app.iam_service, settings.region, settings.account_id)
        print(
            f"lambdabox {__version__} ready on {app.endpoint_url} in {time.monotonic() - t0:.2f}s", flush=True
        )
        if demo:
            command, python, aws = demo_mod.tools()
            key: tuple[str, str] | None = ("test", "test")
            if settings.verify_signatures and (found := settings.root_key_set().get("test")) is not None:
                key = (found.access_key_id, found.secret_access_key)
            elif settings.verify_signatures:
                key = None  # the user's own root keys: the banner does not print secrets
            text = demo_mod.instructions(
                app.endpoint_url, settings.region, command, python=python, aws=aws, key=key
            )
            print(text, flush=True)
        follow = None if after_ready is None else asyncio.ensure_future(after_ready(app.endpoint_url))
        await stop.wait()
        if follow is not None:
            follow.cancel()
        print("lambdabox: shutting down", flush=True)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
