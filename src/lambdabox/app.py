"""The composition root: builds the store, clock, services and servers, and wires them together.

Nothing here is global: an `App` owns everything it starts and stops it in reverse order.
Services get narrow collaborators from here, never by importing each other's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lambdabox.admin.clock import ClockControl, clock_endpoint
from lambdabox.admin.faults import faults_endpoint
from lambdabox.aws.composite import Operations
from lambdabox.aws.keys import KnownKey
from lambdabox.aws.protocol import ServiceProtocol
from lambdabox.aws.verify import Authenticator
from lambdabox.clock import Clock, ManualClock, SystemClock
from lambdabox.config import Settings
from lambdabox.deliveries import deliveries, delivery_failures
from lambdabox.edge import AdminEndpoint, Edge, Service
from lambdabox.gateway import rest_store, usage_store
from lambdabox.gateway import store as gateway_store
from lambdabox.gateway.api_keys import stage_lookup
from lambdabox.gateway.dataplane import HttpApiDataPlane
from lambdabox.gateway.iam_auth import IamAuthorizer
from lambdabox.gateway.lambda_run import LambdaRunner
from lambdabox.gateway.metering import Metering
from lambdabox.gateway.rest_dataplane import RestApiDataPlane
from lambdabox.gateway.rest_keys import metered
from lambdabox.gateway.rest_service import ApiGatewayService
from lambdabox.gateway.route_auth import RouteAuth
from lambdabox.gateway.usage_plans import UsagePlansService
from lambdabox.gateway.v2_api import ApiGatewayV2Service
from lambdabox.http_limits import HttpLimits
from lambdabox.http_server import HttpServer
from lambdabox.iam.api import IamService
from lambdabox.identity_wiring import (
    iam_key_users,
    iam_roles,
    lambda_can_assume,
    principals,
    role_credentials,
    source_exists,
)
from lambdabox.lambda_ import async_store, esm_store, layer_store, outbox_store, provisioned_store, url_store
from lambdabox.lambda_ import store as lambda_store
from lambdabox.lambda_.api import LambdaDeps, LambdaService
from lambdabox.lambda_.async_engine import AsyncEngine
from lambdabox.lambda_.code import CodeStore
from lambdabox.lambda_.code_gc import CodeCollector
from lambdabox.lambda_.code_url import CodeUrls, load_or_create_key
from lambdabox.lambda_.concurrency import Concurrency
from lambdabox.lambda_.credentials import RoleCredentialsCache
from lambdabox.lambda_.esm_engine import EventSourceEngine
from lambdabox.lambda_.fault_runs import FaultInjector
from lambdabox.lambda_.faults import FaultBook
from lambdabox.lambda_.invoker import Invoker, InvokerSettings
from lambdabox.lambda_.layer_trees import LayerTrees
from lambdabox.lambda_.limits import request_limit as lambda_limits
from lambdabox.lambda_.outbox import Outbox
from lambdabox.lambda_.provisioned_engine import ProvisionedEngine
from lambdabox.lambda_.runtime_api import RuntimeApiServer
from lambdabox.lambda_.runtime_catalog import RUNTIMES_DIR, RuntimeCatalog
from lambdabox.lambda_.runtime_sdk import find_runtime_sdk
from lambdabox.lambda_.sandbox import Sandbox
from lambdabox.lambda_.sandbox.rootfs import RuntimeSources
from lambdabox.lambda_.url_dataplane import UrlDataPlane
from lambdabox.lambda_.url_index import FunctionUrls
from lambdabox.logs.api import LogsService
from lambdabox.logs.retention import RetentionSweep
from lambdabox.metrics import store as metrics_store
from lambdabox.metrics.api import CloudWatchService
from lambdabox.metrics.lambda_metrics import NAMESPACE as LAMBDA_NAMESPACE
from lambdabox.metrics.lambda_metrics import LambdaRecorder
from lambdabox.metrics.prometheus import metrics_endpoint
from lambdabox.metrics.recorder import Recorder
from lambdabox.queue_source import QueueConsumer
from lambdabox.service_links import async_invoke_through, batches_through, invoke_through, longest_through
from lambdabox.sns.api import SnsService
from lambdabox.sns.engine import DeliveryEngine
from lambdabox.sns.links import SnsLinks
from lambdabox.sns.signing import load_signer
from lambdabox.sqs import query_traits as sqs_query
from lambdabox.sqs.api import SqsService
from lambdabox.sqs.batches import Batches as SqsBatches
from lambdabox.sqs.move_tasks import MoveTasks as SqsMoveTasks
from lambdabox.sqs.queue_config import QueueConfig as SqsQueueConfig
from lambdabox.store.db import Store
from lambdabox.sts.api import StsService

log = logging.getLogger(__name__)


@dataclass
class _Parts:
    store: Store
    sandbox: Sandbox
    runtime_api: RuntimeApiServer
    logs: LogsService
    retention: RetentionSweep
    invoker: Invoker
    code_gc: CodeCollector
    lambda_: LambdaService
    async_engine: AsyncEngine
    outbox: Outbox
    metrics: Recorder
    iam: IamService
    sts: StsService
    runner: LambdaRunner  # the API Gateway data planes' invocations
    usage_plans: UsagePlansService
    http: HttpServer  # the public port
    env_http: HttpServer  # the AWS endpoint as served inside environments
    clock_control: ClockControl  # /_lambdabox/clock's
    event_sources: EventSourceEngine  # the event source mappings' pollers
    provisioned: ProvisionedEngine  # provisioned concurrency's environments
    sns_engine: DeliveryEngine  # SNS's deliveries
    sqs_moves: SqsMoveTasks  # SQS's message move tasks


class App:
    """One lambdabox server: `await start()`, serve, `await close()`."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        catalog: RuntimeCatalog | None = None,
        http_limits: HttpLimits | None = None,
        fault_draw: Callable[[], float] = random.random,
        transport_on_clock: bool = False,
    ) -> None:
        """`clock`: the one clock (default: as `settings.clock` says, a manual one starting at the
        current time, paused, or the system's); `http_limits`: what clients of the HTTP front may
        send, and how slowly; `fault_draw`: numbers in [0, 1) deciding whether an injected fault
        with a probability hits an invocation; `transport_on_clock`: the HTTP fronts' connection
        timeouts (slow or silent clients, idle keep-alive) run on `clock` too. By default they run
        on the system's clock whatever `clock` is: a connection lives in real time, and moving a
        manual clock by an hour must not cut a request in transit or every idle keep-alive
        connection (tests of those timeouts turn this on)."""
        self.settings = settings
        self._fault_draw = fault_draw
        if clock is None:
            clock = ManualClock(start=time.time()) if settings.clock == "manual" else SystemClock()
        self.clock: Clock = clock
        self._transport_clock: Clock = clock if transport_on_clock else SystemClock()
        self._catalog = catalog or RuntimeCatalog()
        self._http_limits = http_limits or HttpLimits()
        self._parts: _Parts | None = None
        self.port: int = settings.port

    @property
    def async_engine(self) -> AsyncEngine:
        assert self._parts is not None, "start() first"
        return self._parts.async_engine

    @property
    def event_sources(self) -> EventSourceEngine:
        assert self._parts is not None, "start() first"
        return self._parts.event_sources

    @property
    def outbox(self) -> Outbox:
        assert self._parts is not None, "start() first"
        return self._parts.outbox

    @property
    def sns_deliveries(self) -> DeliveryEngine:
        assert self._parts is not None, "start() first"
        return self._parts.sns_engine

    @property
    def clock_control(self) -> ClockControl:
        """Reads and moves the clock as `/_lambdabox/clock` does (firing what becomes due)."""
        assert self._parts is not None, "start() first"
        return self._parts.clock_control

    @property
    def lambda_service(self) -> LambdaService:
        assert self._parts is not None
        return self._parts.lambda_

    @property
    def invoker(self) -> Invoker:
        assert self._parts is not None
        return self._parts.invoker

    @property
    def code_collector(self) -> CodeCollector:
        assert self._parts is not None
        return self._parts.code_gc

    @property
    def logs_service(self) -> LogsService:
        assert self._parts is not None
        return self._parts.logs

    @property
    def iam_service(self) -> IamService:
        assert self._parts is not None
        return self._parts.iam

    @property
    def sts_service(self) -> StsService:
        assert self._parts is not None
        return self._parts.sts

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "", "::") else self.settings.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        s = self.settings
        data = s.data_dir
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):  # the store, code and keys are the server's alone
            os.chmod(data, 0o700)
        sock = _bind(s.host, s.port)  # bind first: fail fast if the port is taken
        self.port = sock.getsockname()[1]
        store = Store(data / "lambdabox.db", sync=s.sync)
        store.open()
        store.migrate("lambda", lambda_store.SCHEMA)
        store.migrate("lambda_async", async_store.SCHEMA)
        store.migrate("lambda_outbox", outbox_store.SCHEMA)
        store.migrate("lambda_esm", esm_store.SCHEMA)
        store.migrate("lambda_provisioned", provisioned_store.SCHEMA)
        store.migrate("lambda_layers", layer_store.SCHEMA)
        store.migrate("lambda_urls", url_store.SCHEMA)
        store.migrate("logs", LogsService.SCHEMA)
        store.migrate("iam", IamService.SCHEMA)
        store.migrate("sts", StsService.SCHEMA)
        store.migrate("gateway", gateway_store.SCHEMA)
        store.migrate("gateway_rest", rest_store.SCHEMA)
        store.migrate("gateway_usage", usage_store.SCHEMA)
        store.migrate("sqs", SqsService.SCHEMA)
        store.migrate("sqs_move", SqsMoveTasks.SCHEMA)
        store.migrate("sns", SnsService.SCHEMA)
        store.migrate("metrics", metrics_store.SCHEMA)
        sdk = await asyncio.to_thread(find_runtime_sdk, s.runtime_sdk_dir)
        if (warning := sdk.missing_warning()) is not None:
            log.warning("%s", warning)
        sandbox = Sandbox(
            data / "sandbox",
            runtime=RuntimeSources(RUNTIMES_DIR, sdk.python, sdk.node_modules),
            network="none" if s.function_network == "none" else "host",
            endpoint_port=self.port,
            templates=s.cold_start == "template",
        )
        await sandbox.start()
        env_http: list[HttpServer] = []  # the AWS endpoint as served inside environments

        async def serve_endpoint(listener: socket.socket) -> Callable[[], Awaitable[None]]:
            """Serve the edge on a listener inside an environment's own network namespace."""
            return await env_http[0].serve(listener)

        runtime_api = RuntimeApiServer()
        metrics = Recorder(store, self.clock, counted=[LAMBDA_NAMESPACE])  # CloudWatch's, /_lambdabox/metrics
        await metrics.start()
        lambda_metrics = LambdaRecorder(metrics)
        logs = LogsService(store, self.clock)
        retention = RetentionSweep(logs.expire, self.clock)
        code = CodeStore(data / "code")
        code_gc = CodeCollector(code, lambda: store.read(_referenced_code))
        layer_trees = LayerTrees(data / "opt", code)  # what functions' layers merge to (/opt)
        code_urls = CodeUrls(await asyncio.to_thread(load_or_create_key, data), self.clock)
        iam = IamService(store, self.clock)
        sqs = SqsService(store, self.clock, self.endpoint_url)
        sqs_moves = SqsMoveTasks(sqs)  # dead-letter queue redrive

        root_keys = s.root_key_set()

        async def long_term_key_account(access_key_id: str) -> str | None:
            """The account of a root key or an IAM user's access key (None: neither)."""
            if (root := root_keys.get(access_key_id)) is not None:
                return root.account
            key = await iam.access_key(access_key_id)
            return key.account if key is not None else None

        sts = StsService(
            store,
            self.clock,
            account_id=s.account_id,
            find_role=iam_roles(iam),
            web_identity=not s.verify_signatures,
            other_key_account=long_term_key_account,
            key_user=iam_key_users(iam),
        )
        concurrency = Concurrency(s.concurrency_limit)  # the invoker counts, the Lambda API reserves
        invoker = Invoker(
            InvokerSettings(
                idle_timeout=s.idle_timeout,
                endpoint_url=self.endpoint_url,
            ),
            clock=self.clock,
            sandbox=sandbox,
            runtime_api=runtime_api,
            catalog=self._catalog,
            logs=logs,
            code_root=code.root,
            credentials=RoleCredentialsCache(role_credentials(sts), self.clock),
            code_holds=code_gc,
            concurrency=concurrency,
            serve_endpoint=serve_endpoint,
            metrics=lambda_metrics,
            layer_trees=layer_trees,
        )
        await invoker.start()
        provisioned = ProvisionedEngine(store, self.clock, invoker, concurrency)
        outbox = Outbox(store, self.clock)
        fault_book = FaultBook(self.clock, self._fault_draw)  # /_lambdabox/faults
        async_engine = AsyncEngine(store, self.clock, outbox, metrics=lambda_metrics)
        sqs_batches = SqsBatches(sqs)
        event_sources = EventSourceEngine(
            store,
            self.clock,
            QueueConsumer(sqs, sqs_batches),
            # pollers never outnumber what the function may run at once
            reserved=lambda m: concurrency.reserved(m.region, m.account, m.function_name),
            # MetricsConfig EventCount: AWS/Lambda's event source mapping metrics, per mapping
            count=lambda m, metric, n: metrics.record(
                m.region,
                m.account,
                LAMBDA_NAMESPACE,
                metric,
                (("EventSourceMappingUUID", m.uuid),),
                n,
                "Count",
            ),
        )
        function_urls = FunctionUrls(store, self.endpoint_url)
        await function_urls.load()
        lambda_ = LambdaService(
            LambdaDeps(
                store=store,
                code=code,
                code_gc=code_gc,
                code_urls=code_urls,
                invoker=invoker,
                clock=self.clock,
                endpoint_url=self.endpoint_url,
                concurrency=concurrency,
                role_assumable=lambda_can_assume(iam) if s.check_roles else None,
                async_engine=async_engine,
                faults=FaultInjector(fault_book, logs, self.clock),
                metrics=lambda_metrics,
                event_sources=event_sources,
                enforce_resource_policies=s.enforce_resource_policies,
                provisioned=provisioned,
                layer_trees=layer_trees,
                urls=function_urls,
            )
        )
        await lambda_.load()
        # provisioned concurrency's environments are initialised again, in the background
        await provisioned.start(lambda_.provisioned_version)
        sns_signer = await load_signer(store)
        sns_engine = DeliveryEngine(
            store,
            self.clock,
            self.endpoint_url,
            sqs.deliver,
            async_invoke_through(lambda_),
            signer=sns_signer,
        )
        sns = SnsService(store, self.clock, sns_engine)
        sns_protocol = ServiceProtocol("sns")
        sns_links = SnsLinks(sns, sns_protocol, sns_signer)
        # code no function names (a crash came between a commit and the files) goes before serving
        if removed := await code_gc.collect():
            log.info("removed %d stored code packages no function uses", len(removed))
        await layer_trees.collect(at_start=True)

        apis = ApiGatewayV2Service(store, self.clock, self.endpoint_url)
        await apis.load()
        # REST and HTTP APIs share one id space: a REST API never takes an HTTP API's id
        rest_apis = ApiGatewayService(store, self.clock, taken=lambda api_id: apis.api(api_id) is not None)
        await rest_apis.load()

        def rest_stages(region: str, account: str, api_id: str) -> list[str] | None:
            """The stage names of an account's REST API (what usage plans may name)."""
            api = rest_apis.api(api_id)
            if api is None or (api.region, api.account) != (region, account):
                return None
            return list(api.stages)

        usage_plans = UsagePlansService(store, self.clock, stage_lookup(rest_stages))
        await usage_plans.load()

        async def find_key(access_key_id: str) -> KnownKey | None:
            """A key the server knows: a root key, an STS session's or an IAM user's."""
            if (root := root_keys.get(access_key_id)) is not None:
                return root
            if access_key_id.startswith("ASIA"):
                session = await sts.session(access_key_id)
                if session is None:
                    return None
                return KnownKey(
                    access_key_id, session.secret_access_key, session.account,
                    session_token=session.session_token, expiration=session.expiration,
                    active=await source_exists(iam, session), principal_arn=session.identity.arn,
                )  # fmt: skip
            if access_key_id.startswith("AKIA"):
                user_key = await iam.access_key(access_key_id)
                if user_key is None:
                    deleted_in = await iam.deleted_key_account(access_key_id)
                    return (
                        None if deleted_in is None else KnownKey(access_key_id, "", deleted_in, active=False)
                    )
                return KnownKey(
                    access_key_id, user_key.secret_access_key, user_key.account,
                    active=user_key.status == "Active", principal_arn=user_key.user_arn,
                )  # fmt: skip
            return None

        # AWS_IAM routes and methods: signatures always verified, whatever --verify-signatures says
        signed = IamAuthorizer(
            Authenticator(find_key, verify=True, now=self.clock.now, wall=time.time),
            principals(sts, iam_key_users(iam)),
        )
        runner = LambdaRunner(invoke_through(lambda_), self.clock, longest_through(lambda_))
        gateway = HttpApiDataPlane(apis.api, runner, self.clock, RouteAuth(self.clock, signed))
        rest_gateway = RestApiDataPlane(
            rest_apis.api, runner, self.clock, metered(Metering(usage_plans, self.clock)), signed
        )
        url_plane = UrlDataPlane(
            function_urls, lambda_, self.clock, signed, enforce=s.enforce_resource_policies
        )
        # lambdabox's own endpoints, /_lambdabox/<name> (environments are refused them)
        admin: dict[str, AdminEndpoint] = {}
        clock_control = ClockControl(
            self.clock, lambda: (async_engine.activity(), outbox.activity(), sns_engine.activity())
        )
        admin["clock"] = clock_endpoint(clock_control)
        admin["faults"] = faults_endpoint(
            fault_book, lambda function: lambda_.fault_function(function, s.region, s.account_id)
        )
        admin["metrics"] = metrics_endpoint(
            lambda: metrics.totals(LAMBDA_NAMESPACE), lambda_metrics.running_now
        )
        edge = Edge(
            [
                Service("lambda", ServiceProtocol("lambda"), lambda_, lambda_limits),
                Service("logs", ServiceProtocol("logs"), logs),
                Service("monitoring", ServiceProtocol("cloudwatch"), CloudWatchService(metrics, self.clock)),
                Service("iam", ServiceProtocol("iam"), iam),
                Service("sts", ServiceProtocol("sts"), sts),
                Service(
                    "sqs",
                    ServiceProtocol("sqs", query=sqs_query.DIALECT),
                    Operations(sqs, sqs_batches, SqsQueueConfig(sqs), sqs_moves),
                ),
                Service("sns", sns_protocol, sns, internal_error_code="InternalError"),
                Service("apigatewayv2", ServiceProtocol("apigatewayv2"), apis),
                Service("apigateway", ServiceProtocol("apigateway"), Operations(rest_apis, usage_plans)),
            ],
            # REST APIs' plane answers its own ids only; the HTTP APIs' answers the rest (404)
            data_planes=[url_plane.route, rest_gateway.route, gateway.route, sns_links.route],
            admin=admin,
            region=s.region,
            account_id=s.account_id,
            code_dir=code.root,
            code_urls=code_urls,
            is_environment=sandbox.owns_uid,
            authenticator=Authenticator(
                find_key, verify=s.verify_signatures, now=self.clock.now, wall=time.time
            ),
            stats=lambda: {
                "environments": dict(invoker.environment_states()),
                "inflight": invoker.inflight,
                "async": {
                    "queued": async_engine.backlog,
                    "running": async_engine.running,
                    "outbox": outbox.backlog,
                    "parked": outbox.parked,  # kept for a service lambdabox does not serve yet
                },
                "sns": {"deliveries": sns_engine.backlog},
                "sandbox": sandbox.mode,
                "isolation": sandbox.isolation,
                "function_network": sandbox.network,
                "coldStart": sandbox.cold_start,
                "verifySignatures": s.verify_signatures,
                "enforceResourcePolicies": s.enforce_resource_policies,
                "clock": clock_control.mode,
                "runtimeSdk": sdk.versions(),
            },
        )
        env_http.append(
            HttpServer(
                edge.handle_from_environment,
                clock=self.clock,
                timeouts=self._transport_clock,
                limits=self._http_limits,
            )
        )
        # what the store holds runs again, before anything new is accepted (each event once in
        # the queue), each under its function's EventInvokeConfig
        await async_engine.start(
            lambda_.run_async_event,
            lambda ev: lambda_.async_limits(ev.region, ev.account, ev.function_name, ev.qualifier),
            lambda_.settle_async_event,
            paused=s.async_dispatch == "paused",
        )
        await outbox.start(deliveries(lambda_, sqs, sns), delivery_failures(lambda_metrics))
        await sns_engine.start(paused=s.async_dispatch == "paused")
        await event_sources.start(batches_through(lambda_))
        await sqs_moves.start()
        http = HttpServer(
            edge.handle, clock=self.clock, timeouts=self._transport_clock, limits=self._http_limits
        )
        await http.serve(sock)
        retention.start()
        self._parts = _Parts(
            store,
            sandbox,
            runtime_api,
            logs,
            retention,
            invoker,
            code_gc,
            lambda_,
            async_engine,
            outbox,
            metrics,
            iam,
            sts,
            runner,
            usage_plans,
            http,
            env_http[0],
            clock_control,
            event_sources,
            provisioned,
            sns_engine,
            sqs_moves,
        )
        log.info(
            "lambdabox listening on %s (data in %s, isolation %s, cgroups %s, function network %s, "
            "signatures %s, %s clock)", self.endpoint_url, data, sandbox.isolation, sandbox.mode,
            sandbox.network, "verified" if s.verify_signatures else "not verified", clock_control.mode,
        )  # fmt: skip

    async def close(self) -> None:
        """Stop accepting requests, stop every environment, flush logs, close the store."""
        parts, self._parts = self._parts, None
        if parts is None:
            return
        with contextlib.suppress(Exception):
            await parts.http.close()
        with contextlib.suppress(Exception):
            await parts.env_http.close()
        await parts.runner.close()
        await parts.event_sources.close()
        await parts.async_engine.close()
        await parts.outbox.close()
        await parts.sns_engine.close()
        await parts.sqs_moves.close()
        await parts.usage_plans.ledger.close()
        await parts.provisioned.close()
        await parts.invoker.close()
        await parts.code_gc.close()
        await parts.metrics.close()
        await parts.runtime_api.close()
        await parts.sandbox.close()
        await parts.retention.close()
        await parts.logs.close()
        await asyncio.to_thread(parts.store.close)


def _referenced_code(conn: sqlite3.Connection) -> set[str]:
    """The code keys in use: functions' and their versions' (their code and layers), layer versions'."""
    return lambda_store.code_keys(conn) | layer_store.code_keys(conn)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
