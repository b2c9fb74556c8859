"""Synchronous invocation: concurrency accounting, pools per function version and revision, idle reaping.

The invoker is the data-plane core: given a function's configuration and an event, it finds or
starts an environment, runs the invocation and returns the `Outcome`. It enforces the account
concurrency limits (`concurrency.py`: the account's, a function's reserved concurrency;
TooManyRequestsException, as AWS) and never lets one bad function affect others.
A cold start asks the injected `credentials` provider for the function's execution-role credentials,
which the new environment carries. Code is held (`code_holds`) from the start of an invocation until
it ends and by every environment until it stops, so that code a function no longer names is not
removed under an environment still running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from lambdabox.aws import ids
from lambdabox.aws.errors import server_error
from lambdabox.clock import Clock
from lambdabox.lambda_ import extension_launch
from lambdabox.lambda_ import logs as platform_log
from lambdabox.lambda_.concurrency import Concurrency
from lambdabox.lambda_.credentials import CredentialsProvider
from lambdabox.lambda_.environment import (
    ON_DEMAND,
    PROVISIONED,
    Environment,
    EnvSpec,
    ServeEndpoint,
    Undelivered,
)
from lambdabox.lambda_.layer_trees import LayerTrees
from lambdabox.lambda_.lineage import NO_LINEAGE, Lineage
from lambdabox.lambda_.metric_hooks import NO_METRICS, LambdaMetrics, Subject, qualifier_of
from lambdabox.lambda_.models import FunctionConfig, Invocation, Outcome
from lambdabox.lambda_.pool import Pool
from lambdabox.lambda_.response_stream import ResponseStream
from lambdabox.lambda_.runtime_api import RuntimeApiServer
from lambdabox.lambda_.runtime_catalog import RUNTIMES_DIR, RuntimeCatalog, is_node, is_python
from lambdabox.lambda_.sandbox import Sandbox, View, runtime_memory_args

log = logging.getLogger(__name__)


class CodeHolds(Protocol):
    """What the invoker needs of the code collector: keep a code key while it runs from it."""

    def hold(self, key: str) -> None: ...
    def release(self, key: str) -> None: ...


class LogWriter(Protocol):
    """What the invoker needs of the CloudWatch Logs service."""

    async def ensure_stream(self, region: str, account: str, group: str, stream: str) -> None: ...
    def append(
        self, region: str, account: str, group: str, stream: str, events: list[tuple[int, str]]
    ) -> None: ...
    @property
    def congested(self) -> bool: ...
    async def wait_for_room(self) -> None: ...


@dataclass(frozen=True)
class _StreamSink:
    """One environment's log stream, as the environment's `LogSink`."""

    logs: LogWriter
    region: str
    account: str
    group: str
    stream: str

    def append(self, events: list[tuple[int, str]]) -> None:
        self.logs.append(self.region, self.account, self.group, self.stream, events)

    @property
    def congested(self) -> bool:
        return self.logs.congested

    async def wait_for_room(self) -> None:
        await self.logs.wait_for_room()


@dataclass(frozen=True)
class InvokerSettings:
    idle_timeout: float
    endpoint_url: str


class Invoker:
    """Runs invocations in pooled execution environments."""

    def __init__(
        self,
        settings: InvokerSettings,
        *,
        clock: Clock,
        sandbox: Sandbox,
        runtime_api: RuntimeApiServer,
        catalog: RuntimeCatalog,
        logs: LogWriter,
        code_root: Path,
        credentials: CredentialsProvider,
        code_holds: CodeHolds,
        concurrency: Concurrency,
        serve_endpoint: ServeEndpoint | None = None,
        wall: Callable[[], float] = time.time,
        metrics: LambdaMetrics = NO_METRICS,
        layer_trees: LayerTrees | None = None,
    ) -> None:
        """`credentials(fn)`: the credentials of `fn`'s execution role for a new environment;
        `concurrency`: the limits invocations are counted against (shared with the Lambda API,
        which sets reservations); `serve_endpoint`: serves lambdabox's AWS endpoint on a listener made inside an
        environment's own network namespace (``--function-network none``); `wall`: the time
        functions read, that their deadline (Lambda-Runtime-Deadline-Ms) is given in; `metrics`:
        told of every invocation running (ConcurrentExecutions); `layer_trees`: where functions'
        merged layers are (held while an environment uses them; None: layers are not mounted)."""
        self._metrics = metrics
        self._layer_trees = layer_trees
        self._settings = settings
        self._concurrency = concurrency
        self._wall = wall
        self._credentials = credentials
        self._code_holds = code_holds
        self._serve_endpoint = serve_endpoint
        self._code_root = code_root
        self._clock = clock
        self._sandbox = sandbox
        self._api = runtime_api
        self._catalog = catalog
        self._logs = logs
        self._pools: dict[str, Pool] = {}
        self._retired: set[Pool] = set()
        self._inflight = 0
        self._reaper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._warned: set[tuple[str, str | None]] = set()  # (function ARN, runtime) told about

    @property
    def inflight(self) -> int:
        return self._inflight

    def environment_states(self) -> Counter[str]:
        """How many environments are in each state (for tests and the health endpoint)."""
        return Counter(st.value for pool in (*self._pools.values(), *self._retired) for st in pool.states())

    async def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_loop())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        pools = [*self._pools.values(), *self._retired]
        self._pools.clear()
        self._retired.clear()
        await asyncio.gather(*(p.close() for p in pools), return_exceptions=True)

    async def retire(self, fn: FunctionConfig) -> None:
        """The function changed or is gone: its environments must not serve again."""
        pool = self._pools.pop(fn.version_arn, None)
        if pool is not None:
            self._retired.add(pool)
            await pool.retire()
            if pool.size == 0:
                self._retired.discard(pool)

    def adopt(self, old: FunctionConfig, new: FunctionConfig) -> None:
        """`new` runs what `old` ran, under a new revision (a policy changed): the environments of
        `old` serve `new`."""
        pool = self._pools.get(old.version_arn)
        if pool is not None and pool.revision == old.revision_id:
            pool.revision = new.revision_id

    async def invoke(
        self,
        fn: FunctionConfig,
        payload: bytes,
        *,
        invoked_arn: str,
        request_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        lineage: Lineage = NO_LINEAGE,
        stream: ResponseStream | None = None,
    ) -> Outcome:
        """Run one synchronous invocation and return its outcome (`stream`: where its caller
        reads a streamed response as it comes, `response_stream.py`).

        `request_id` is the Invoke API request's id: Lambda uses the same id for the invocation
        (context.aws_request_id, START/REPORT) and the response's x-amzn-RequestId; `lineage` is
        the chain of invocations this one belongs to (this one counted), carried in its trace
        header (Lambda-Runtime-Trace-Id, the function's _X_AMZN_TRACE_ID). A provisioned
        environment of the qualifier invoked serves it when one is idle (`provisioned_engine.py`)."""
        pool = self._pools.get(fn.version_arn)
        warm = None
        provisioned: bool | None = None
        if pool is not None and pool.revision == fn.revision_id:
            warm = pool.take_warm(qualifier_of(invoked_arn))
            provisioned = (
                True if warm is not None else (False if pool.keeps(qualifier_of(invoked_arn)) else None)
            )
        try:
            slot = self._concurrency.acquire(fn.region, fn.account, fn.name, provisioned=warm is not None)
        except BaseException:  # 429
            if warm is not None and pool is not None:
                await pool.release(warm)
            raise
        self._inflight += 1
        running = Subject(fn.region, fn.account, fn.name, qualifier_of(invoked_arn), fn.version)
        self._metrics.running(running, 1)
        self._code_holds.hold(fn.code_key)  # before any await: the code stays until this ends
        #: the environment's post-runtime phase (extensions still busy with INVOKE), if it has one:
        #: the invocation holds its concurrency until it ends, though the caller has its answer
        held: list[asyncio.Task[None]] = []
        try:
            now = self._clock.now()
            inv = Invocation(
                request_id=request_id or ids.request_id(),
                payload=payload,
                function_arn=invoked_arn,
                deadline_ms=self._deadline_ms(fn),
                timeout=float(fn.timeout),
                trace_id=lineage.in_trace_header(ids.trace_id(now)),
                client_context=client_context,
                cognito_identity=cognito_identity,
                stream=stream,
            )
            for _ in range(3):  # a warm environment may turn out dead before it took the event
                try:
                    if warm is not None and pool is not None:
                        env, warm = warm, None
                        outcome = await self._run_in(pool, env, fn, inv, cold=False, held=held)
                    else:
                        outcome = await self._run(fn, inv, held)
                    return outcome if provisioned is None else replace(outcome, provisioned=provisioned)
                except Undelivered:
                    continue
            raise server_error("ServiceException", "No execution environment could take the invocation.")
        finally:

            def ended(_: object = None) -> None:
                slot.release()
                self._inflight -= 1
                self._metrics.running(running, -1)
                self._code_holds.release(fn.code_key)

            if held and not held[0].done():
                held[0].add_done_callback(ended)
            else:
                ended()

    async def _run(self, fn: FunctionConfig, inv: Invocation, held: list[asyncio.Task[None]]) -> Outcome:
        """One attempt: a warm environment, or a cold one that is started (init) first."""
        if not self._catalog.prepared(fn.runtime):  # the interpreter lookup, off the event loop
            await self._catalog.prepare(fn.runtime)
        pool = self._pool(fn)
        env, cold = await pool.acquire()
        return await self._run_in(pool, env, fn, inv, cold=cold, held=held)

    async def _run_in(
        self,
        pool: Pool,
        env: Environment,
        fn: FunctionConfig,
        inv: Invocation,
        *,
        cold: bool,
        held: list[asyncio.Task[None]],
    ) -> Outcome:
        """Run `inv` in `env` of `pool` (started first when `cold`), and give it back. The
        environment's post-runtime phase, when the invocation leaves one, goes into `held`."""
        try:
            if cold:
                # its role's credentials; the log group and stream exist before the first line is
                # written (as on AWS)
                credentials, _ = await asyncio.gather(
                    self._credentials(fn),
                    self._logs.ensure_stream(fn.region, fn.account, env.spec.log_group, env.spec.log_stream),
                )
                failure = await env.start(inv.request_id, credentials)
                if failure is not None:
                    return env.fail_invocation(inv, failure)
                # the deadline counts from the invoke phase, after init
                inv.deadline_ms = self._deadline_ms(fn)
            outcome = await env.invoke(inv)
            if env.post_runtime is not None and not env.post_runtime.done():
                held.append(env.post_runtime)
            return outcome
        finally:
            await pool.release(env)
            if pool.retired and pool.size == 0:
                self._retired.discard(pool)

    def _deadline_ms(self, fn: FunctionConfig) -> int:
        """Epoch ms on the wall clock the function reads (its remaining time is right on a manual clock too)."""
        return int((self._wall() + fn.timeout) * 1000)

    def _pool(self, fn: FunctionConfig) -> Pool:
        pool = self._pools.get(fn.version_arn)
        if pool is not None and pool.revision == fn.revision_id:
            return pool
        if pool is not None:  # a stale pool that retire() has not seen yet
            self._retired.add(pool)
            task = asyncio.get_running_loop().create_task(pool.retire())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        pool = Pool(fn.revision_id, lambda: self._new_env(fn), self._clock)
        self._pools[fn.version_arn] = pool
        return pool

    # -- provisioned concurrency (driven by provisioned_engine.py) ---------------------------
    async def provision(
        self, fn: FunctionConfig, qualifier: str, keep: int, on_stopped: Callable[[], None]
    ) -> Outcome | None:
        """Initialise one provisioned environment of `fn` for invocations of `qualifier` (which
        keeps `keep`), off the request path: None once it is ready in the pool, the init failure
        otherwise. `on_stopped` is called when it stops (it died, or was stopped)."""
        if not self._catalog.prepared(fn.runtime):
            await self._catalog.prepare(fn.runtime)
        pool = self._pool(fn)
        env = self._new_env(fn, PROVISIONED, on_stopped)
        try:
            credentials, _ = await asyncio.gather(
                self._credentials(fn),
                self._logs.ensure_stream(fn.region, fn.account, env.spec.log_group, env.spec.log_stream),
            )
            failure = await env.start(ids.request_id(), credentials)
        except BaseException:  # cancelled (its configuration changed): no process is left behind
            await env.stop()
            raise
        if failure is not None:
            return failure
        await pool.add_warm(qualifier, env, keep)
        return None

    def provisioned(self, fn: FunctionConfig, qualifier: str) -> int:
        """How many provisioned environments of `fn` serve `qualifier` now."""
        pool = self._pools.get(fn.version_arn)
        return pool.warm_count(qualifier) if pool is not None and pool.revision == fn.revision_id else 0

    async def keep_provisioned(
        self, function_arn: str, qualifier: str, fn: FunctionConfig | None, keep: int
    ) -> None:
        """`qualifier` of the function `function_arn` keeps at most `keep` provisioned environments
        of version `fn` and none of any other version (none at all when `fn` is None); the others
        stop (busy ones when their invocation ends)."""
        for version_arn, pool in list(self._pools.items()):
            if version_arn.rsplit(":", 1)[0] != function_arn:
                continue
            mine = fn is not None and version_arn == fn.version_arn and pool.revision == fn.revision_id
            await pool.prune_warm(qualifier, keep if mine else 0)

    def _new_env(
        self,
        fn: FunctionConfig,
        initialization: str = ON_DEMAND,
        on_stopped: Callable[[], None] | None = None,
    ) -> Environment:
        code_dir = self._code_dir(fn)
        trees = self._layer_trees
        layer_keys = [la.code_key for la in fn.layers]
        opt_dir = trees.path(layer_keys) if trees is not None and layer_keys else None
        view = self._sandbox.view(code_dir, opt_dir)
        launch = self._catalog.launch(fn.runtime, Path(view.task_root))
        host_runtimes = str(RUNTIMES_DIR)
        argv = tuple(view.runtime_dir + a[len(host_runtimes) :] if a.startswith(host_runtimes + "/") else a
                     for a in launch.argv)  # fmt: skip
        if (
            opt_dir is not None
            and view.opt is not None
            and argv[0] == f"{view.task_root}/bootstrap"
            and not os.path.lexists(code_dir / "bootstrap")
            and os.path.lexists(opt_dir / "bootstrap")
        ):  # a custom runtime shipped in a layer, as Lambda finds it
            argv = (f"{view.opt}/bootstrap", *argv[1:])
        suffix = ids.hex_id()
        stream = platform_log.log_stream_name(self._clock.now(), fn.version, suffix)
        group = fn.log_group_name
        platform = platform_log.PlatformLog(json_format=fn.log_format == "JSON")
        init_lines = [
            platform.init_start(
                self._clock.now(), fn.runtime, fn.runtime_version_arn, fn.name, fn.version, initialization
            )
        ]
        if launch.warning:
            init_lines.append(launch.warning)
            self._warn_once(fn, launch.warning)
        env_vars = build_env(
            fn,
            stream,
            launch.execution_env,
            launch.path_dirs,
            _env_paths(view),
            self._settings.endpoint_url,
            initialization,
        )
        cmd = extension_launch.command(
            (argv[0], *runtime_memory_args(argv[0], fn.memory_size), *argv[1:]),
            runtime=fn.runtime, environment=fn.environment, opt_dir=opt_dir,
            runtime_dir=view.runtime_dir, task_root=view.task_root, opt=view.opt,
        )  # fmt: skip
        spec = EnvSpec(
            env_id=f"{fn.name}-{suffix[:12]}",
            argv=cmd.argv,
            env=env_vars,
            code_dir=code_dir,
            memory_mb=fn.memory_size,
            ephemeral_mb=fn.ephemeral_storage,
            timeout=float(fn.timeout),
            version=fn.version,
            init_lines=tuple(init_lines),
            platform=platform,
            log_group=group,
            log_stream=stream,
            interpreters=launch.path_dirs,
            opt_dir=opt_dir,
            extensions=cmd.extensions,
            runtime_at=cmd.runtime_at,
            function_name=fn.name,
            handler=fn.handler or "",
            account_id=fn.account,
            initialization_type=initialization,
        )
        sink = _StreamSink(self._logs, fn.region, fn.account, group, stream)
        self._code_holds.hold(fn.code_key)  # until the environment stops
        merged = opt_dir.name if opt_dir is not None else None
        if trees is not None and merged is not None:
            trees.hold(merged)

        def stopped() -> None:
            self._code_holds.release(fn.code_key)
            if trees is not None and merged is not None:
                trees.release(merged)
            if on_stopped is not None:
                on_stopped()

        return Environment(
            spec, sandbox=self._sandbox, runtime_api=self._api, clock=self._clock, sink=sink,
            serve_endpoint=self._serve_endpoint, on_stopped=stopped, wall=self._wall,
        )  # fmt: skip

    def _warn_once(self, fn: FunctionConfig, warning: str) -> None:
        """A runtime runs on another interpreter than its own: say so in the server's log once per
        function and runtime (the function's log says it at every cold start, in its INIT lines)."""
        if (fn.arn, fn.runtime) in self._warned:
            return
        if len(self._warned) > 100_000:
            self._warned.clear()
        self._warned.add((fn.arn, fn.runtime))
        log.warning("function %s: %s", fn.arn, warning.removeprefix("lambdabox: "))

    def _code_dir(self, fn: FunctionConfig) -> Path:
        return self._code_root / fn.code_key

    async def _reap_loop(self) -> None:
        idle = self._settings.idle_timeout
        interval = max(0.5, min(30.0, idle / 4))
        while True:
            await self._clock.sleep(interval)
            for pool in list(self._pools.values()):
                try:
                    await pool.reap(idle)
                except Exception:  # never let reaping die
                    log.exception("reaping environments failed")


RESERVED_ENV = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip


@dataclass(frozen=True)
class EnvPaths:
    """Where an environment finds its code, lambdabox's runtime client and the bundled SDKs: paths as
    the environment sees them (on Lambda /var/task, /var/runtime, /var/runtime/node_modules, /opt)."""

    task_root: str  # LAMBDA_TASK_ROOT: the function's unpacked code
    runtime_dir: str  # LAMBDA_RUNTIME_DIR: lambdabox's runtime clients
    python_path: tuple[str, ...]  # PYTHONPATH of python runtimes: the runtime dir, the Python SDK set
    node_modules: str | None  # the Node.js SDK set's node_modules (on NODE_PATH), None when missing
    opt: str = "/opt"  # where layers are (/opt, or the host's merged layers dir in rlimits mode)


#: tells lambdabox's Python bootstrap where the layers are when not at /opt (rlimits mode); the
#: bootstrap removes it from the environment before the function's code runs
OPT_ENV = "_LAMBDABOX_OPT_DIR"


def build_env(
    fn: FunctionConfig,
    stream: str,
    execution_env: str,
    path_dirs: tuple[str, ...],
    paths: EnvPaths,
    endpoint_url: str,
    initialization: str = ON_DEMAND,
) -> dict[str, str]:
    """The environment variables of an execution environment, as Lambda sets them (but the role's
    credentials and AWS_LAMBDA_RUNTIME_API, which `Environment.start` adds: RESERVED_ENV keeps the
    function's own variables from setting any of them)."""
    path = ":".join([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin", f"{paths.opt}/bin"])
    env = {
        "PATH": path,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LD_LIBRARY_PATH": _library_path(path_dirs, paths),
        **_module_paths(fn.runtime, paths),
        "AWS_ENDPOINT_URL": endpoint_url,
        "LAMBDABOX_ENDPOINT_URL": endpoint_url,
        **fn.environment,
        **({OPT_ENV: paths.opt} if paths.opt != "/opt" and is_python(fn.runtime) else {}),
        "_HANDLER": fn.handler or "",
        "AWS_REGION": fn.region,
        "AWS_DEFAULT_REGION": fn.region,
        "AWS_EXECUTION_ENV": execution_env,
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": fn.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": initialization,
        "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group_name,
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "LAMBDA_TASK_ROOT": paths.task_root,
        "LAMBDA_RUNTIME_DIR": paths.runtime_dir,
    }
    if fn.handler is None:
        env.pop("_HANDLER")
    if fn.log_format == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = fn.application_log_level or "INFO"
    return env


#: directories the dynamic loader searches anyway: an interpreter's `lib` among them is left out,
#: so as not to put the host's system libraries ahead of the others
_SYSTEM_LIBS = frozenset({"/lib", "/usr/lib", "/lib64", "/usr/lib64"})


def _library_path(path_dirs: tuple[str, ...], paths: EnvPaths) -> str:
    """LD_LIBRARY_PATH as Lambda's base images set it, `/var/lang/lib:/lib64:/usr/lib64:/var/runtime:
    /var/runtime/lib:/var/task:/var/task/lib:/opt/lib`, with the paths as the environment sees them
    (the interpreters' `lib` directories standing for /var/lang/lib, as their `bin` directories
    stand for /var/lang/bin on PATH): the function's own libraries are found before the layers'."""
    lang: list[str] = []
    for d in path_dirs:
        lib = os.path.join(os.path.dirname(d.rstrip("/")) or "/", "lib")
        if lib not in _SYSTEM_LIBS and lib not in lang:
            lang.append(lib)
    task, runtime = paths.task_root, paths.runtime_dir
    dirs = [*lang, "/lib64", "/usr/lib64", runtime, f"{runtime}/lib", task, f"{task}/lib", f"{paths.opt}/lib"]
    return ":".join(dirs)


def _env_paths(view: View) -> EnvPaths:
    """The paths as an environment sees them, from the sandbox's view (/var/task, /var/runtime
    with the Python SDK merged in, when it has a root of its own; host paths otherwise)."""
    python_path = [view.runtime_dir]
    if view.python_sdk is not None and view.python_sdk != view.runtime_dir:
        python_path.append(view.python_sdk)
    return EnvPaths(
        view.task_root, view.runtime_dir, tuple(python_path), view.node_modules, view.opt or "/opt"
    )


def _module_paths(runtime: str | None, paths: EnvPaths) -> dict[str, str]:
    """PYTHONPATH or NODE_PATH, as Lambda sets them (the function may set its own: it then wins)."""
    if is_python(runtime):
        return {"PYTHONPATH": ":".join(paths.python_path)}
    if is_node(runtime):
        assert runtime is not None
        major = runtime.removeprefix("nodejs").split(".")[0]
        opt = paths.opt
        entries = [f"{opt}/nodejs/node{major}/node_modules", f"{opt}/nodejs/node_modules"]
        if paths.node_modules is not None:
            entries.append(paths.node_modules)
        return {"NODE_PATH": ":".join([*entries, paths.runtime_dir, paths.task_root])}
    return {}
