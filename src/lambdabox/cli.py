"""The `lambdabox` command: parses flags and hands over to the app; nothing else lives here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any

from lambdabox import __version__
from lambdabox.config import Settings
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
    return p


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
    _parser().print_help()
    return 2


def _serve(args: argparse.Namespace) -> int:
    flags: dict[str, Any] = {
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
    }
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
        return asyncio.run(_run(settings, demo=args.demo))
    except OSError as exc:
        print(f"lambdabox: cannot start: {exc}", file=sys.stderr)
        return 1


async def _run(settings: Settings, *, demo: bool) -> int:
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
        await stop.wait()
        print("lambdabox: shutting down", flush=True)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
