"""The AWS SDK inside functions, as on Lambda: boto3 for python3.x, the JavaScript SDK v3 for nodejs*.

Through the real server with boto3; the sets are the ones the install step put into the venv
(scripts/install-runtime-sdks.sh, run by `make test` / `make run`). Also: how they are found
(runtime_sdk discovery, the environment variables) and the interpreter lookup off the event loop.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from conftest import ROOT, deploy
from lambdabox.config import Settings
from lambdabox.lambda_.invoker import EnvPaths, build_env
from lambdabox.lambda_.models import FunctionConfig
from lambdabox.lambda_.runtime_catalog import RuntimeCatalog
from lambdabox.lambda_.runtime_sdk import find_runtime_sdk
from lambdabox.testing import LocalLambdabox
from sdk_helpers import INSTALL, SDK, needs_node_sdk, needs_python_sdk

PINNED = dict(
    re.findall(r"^([\w-]+)==(\S+)$", (ROOT / "runtime-sdk/python/requirements.txt").read_text(), re.M)
)
NODE_PINS = json.loads((ROOT / "runtime-sdk/nodejs/package.json").read_text())["dependencies"]


def invoke(lam: Any, name: str) -> Any:
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    return body


# ---------------------------------------------------------------------------------------------------
# Python


PY_LIST_FUNCTIONS = """\
import boto3

def handler(event, context):
    pages = boto3.client("lambda").get_paginator("list_functions").paginate()
    names = [f["FunctionName"] for page in pages for f in page["Functions"]]
    return {"names": names, "version": boto3.__version__, "botocore": __import__("botocore").__version__}
"""


@needs_python_sdk
def test_python_function_uses_the_bundled_boto3_to_reach_lambdabox(lam: Any) -> None:
    name = deploy(lam, {"app.py": PY_LIST_FUNCTIONS}, runtime="python3.11", Timeout=30, MemorySize=256)
    got = invoke(lam, name)
    assert name in got["names"]  # through AWS_ENDPOINT_URL, with the function's credentials
    assert got["version"] == PINNED["boto3"] == SDK.boto3_version
    assert got["botocore"] == PINNED["botocore"] == SDK.botocore_version


@needs_python_sdk
def test_python_function_packaging_its_own_boto3_gets_its_own(lam: Any) -> None:
    code = (
        "import boto3, os\n"
        "def handler(event, context):\n"
        "    return [boto3.MARKER, boto3.__file__.startswith(os.environ['LAMBDA_TASK_ROOT'])]\n"
    )
    files: dict[str, str | bytes] = {"app.py": code, "boto3/__init__.py": "MARKER = 'packaged'\n"}
    name = deploy(lam, files, runtime="python3.11", Timeout=30)
    assert invoke(lam, name) == ["packaged", True]


def _own_root(server: Any) -> bool:
    """Environments of this server have a root of their own (/var/task, /var/runtime)."""
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/_lambdabox/health", timeout=10) as resp:
        return bool(json.loads(resp.read())["isolation"] != "rlimits")


@needs_python_sdk
def test_python_sys_path_order_and_runtime_files_stay_hidden(lam: Any, server: Any) -> None:
    code = (
        "import importlib.util, os, sys\n"
        "def handler(event, context):\n"
        "    return {'path': sys.path, 'pythonpath': os.environ['PYTHONPATH'],\n"
        "            'hidden': importlib.util.find_spec('_lambdabox_rt_http') is None}\n"
    )
    name = deploy(lam, {"app.py": code}, runtime="python3.11")
    got = invoke(lam, name)
    path, entries = got["path"], got["pythonpath"].split(":")
    # with a root of its own the SDK is mounted into /var/runtime itself (PYTHONPATH=/var/runtime)
    assert entries == (["/var/runtime"] if _own_root(server) else [entries[0], str(SDK.python)])
    version = re.search(r"/opt/python/lib/(python3\.\d+)/site-packages", path[1])
    assert version is not None
    assert path[1:3] == [f"/opt/python/lib/{version.group(1)}/site-packages", "/opt/python"]
    assert path[3 : 3 + len(entries)] == entries  # PYTHONPATH, then the standard library
    assert "python3" in path[3 + len(entries)]
    assert got["hidden"] is True


# ---------------------------------------------------------------------------------------------------
# Node.js

NODE_LIST = """
  const client = new LambdaClient({});
  const names = [];
  for await (const page of paginateListFunctions({ client }, {})) {
    names.push(...page.Functions.map((f) => f.FunctionName));
  }
"""

NODE_CJS = (
    'const { LambdaClient, paginateListFunctions } = require("@aws-sdk/client-lambda");\n'
    'const { DynamoDBDocumentClient } = require("@aws-sdk/lib-dynamodb");\n'
    "exports.handler = async () => {"
    + NODE_LIST
    + "  return { names, doc: typeof DynamoDBDocumentClient };\n};\n"
)

NODE_ESM = (
    'import { LambdaClient, ListFunctionsCommand, paginateListFunctions } from "@aws-sdk/client-lambda";\n'
    'import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";\n'
    'import { STSClient } from "@aws-sdk/client-sts";\n'
    "export const handler = async () => {"
    + NODE_LIST
    + "  return { names, doc: typeof DynamoDBDocumentClient, command: typeof ListFunctionsCommand, sts: STSClient };\n};\n"
)


@needs_node_sdk
def test_node_commonjs_function_requires_the_bundled_sdk(lam: Any) -> None:
    name = deploy(
        lam, {"index.js": NODE_CJS}, runtime="nodejs20.x", handler="index.handler", Timeout=30, MemorySize=256
    )
    got = invoke(lam, name)
    assert name in got["names"]
    assert got["doc"] == "function"


@needs_node_sdk
def test_node_es_module_imports_the_bundled_sdk_and_its_own_node_modules_win(lam: Any) -> None:
    files: dict[str, str | bytes] = {
        "index.mjs": NODE_ESM,
        # the function's own copy of a package the runtime also carries: its own is imported
        "node_modules/@aws-sdk/client-sts/package.json": '{"name": "@aws-sdk/client-sts", "main": "index.js"}',
        "node_modules/@aws-sdk/client-sts/index.js": 'exports.STSClient = "packaged";\n',
    }
    name = deploy(lam, files, runtime="nodejs20.x", handler="index.handler", Timeout=30, MemorySize=256)
    got = invoke(lam, name)
    assert name in got["names"]
    assert (got["doc"], got["command"], got["sts"]) == ("function", "function", "packaged")


@needs_node_sdk
def test_node_path_is_lambdas_with_the_bundled_sdk(lam: Any, server: Any) -> None:
    code = "exports.handler = async () => [process.env.NODE_PATH, process.env.LAMBDA_TASK_ROOT, process.env.LAMBDA_RUNTIME_DIR];\n"
    name = deploy(lam, {"index.js": code}, runtime="nodejs20.x", handler="index.handler")
    node_path, task_root, runtime_dir = invoke(lam, name)
    assert node_path == ":".join(
        [
            "/opt/nodejs/node20/node_modules",
            "/opt/nodejs/node_modules",
            "/var/runtime/node_modules" if _own_root(server) else str(SDK.node_modules),
            runtime_dir,
            task_root,
        ]
    )
    if _own_root(server):
        assert (task_root, runtime_dir) == ("/var/task", "/var/runtime")


def test_installed_node_set_matches_the_pins() -> None:
    if SDK.node_modules is None:
        pytest.skip(f"the Node.js SDK set is not installed: run {INSTALL}")
    assert SDK.node_sdk_version == NODE_PINS["@aws-sdk/client-lambda"]
    for package, version in NODE_PINS.items():
        assert json.loads((SDK.node_modules / package / "package.json").read_text())["version"] == version


# ---------------------------------------------------------------------------------------------------
# How they are found


def test_discovery_reads_the_installed_sets_and_their_versions(tmp_path: Path) -> None:
    for name, version in (("boto3", "1.2.3"), ("botocore", "1.2.4")):
        info = tmp_path / "python" / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    pkg = tmp_path / "nodejs/node_modules/@aws-sdk/client-lambda"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "@aws-sdk/client-lambda", "version": "3.9.0"}')

    sdk = find_runtime_sdk(tmp_path)
    assert sdk.python == tmp_path / "python"
    assert sdk.node_modules == tmp_path / "nodejs/node_modules"
    assert (sdk.boto3_version, sdk.botocore_version, sdk.node_sdk_version) == ("1.2.3", "1.2.4", "3.9.0")
    assert sdk.missing() == [] and sdk.missing_warning() is None
    assert sdk.versions() == {
        "python": {"boto3": "1.2.3", "botocore": "1.2.4"},
        "nodejs": {"@aws-sdk/client-lambda": "3.9.0"},
    }


def test_discovery_of_missing_sets_names_the_install_command(tmp_path: Path) -> None:
    sdk = find_runtime_sdk(tmp_path / "nothing")
    assert (sdk.python, sdk.node_modules) == (None, None)
    assert sdk.missing() == ["python", "nodejs"]
    warning = sdk.missing_warning()
    assert warning is not None and "scripts/install-runtime-sdks.sh" in warning and str(tmp_path) in warning


def test_default_location_is_in_the_venv_and_a_setting_overrides_it(tmp_path: Path) -> None:
    assert find_runtime_sdk().root == Path(sys.prefix) / "share/lambdabox/runtime-sdk"
    settings = Settings.resolve(env={"LAMBDABOX_RUNTIME_SDK_DIR": str(tmp_path)})
    assert settings.runtime_sdk_dir == tmp_path
    assert find_runtime_sdk(settings.runtime_sdk_dir).root == tmp_path
    assert Settings.resolve(env={}).runtime_sdk_dir is None


def fn_config(runtime: str, **kw: Any) -> FunctionConfig:
    return FunctionConfig(
        region="us-east-1", account="000000000000", name="f", runtime=runtime, role="r",
        handler="app.handler", code_sha256="", code_size=0, code_key="k", **kw,
    )  # fmt: skip


LAMBDA_PATHS = EnvPaths("/var/task", "/var/runtime", ("/var/runtime",), "/var/runtime/node_modules")


def test_env_paths_give_lambdas_variables() -> None:
    """With Lambda's own paths, the variables are Lambda's."""
    env = build_env(fn_config("nodejs20.x"), "s", "AWS_Lambda_nodejs20.x", (), LAMBDA_PATHS, "http://x")
    assert env["NODE_PATH"] == (
        "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"
    )
    assert (env["LAMBDA_TASK_ROOT"], env["LAMBDA_RUNTIME_DIR"]) == ("/var/task", "/var/runtime")
    assert "PYTHONPATH" not in env
    env = build_env(fn_config("nodejs22.x"), "s", "AWS_Lambda_nodejs22.x", (), LAMBDA_PATHS, "http://x")
    assert env["NODE_PATH"].startswith("/opt/nodejs/node22/node_modules:")
    env = build_env(fn_config("python3.12"), "s", "AWS_Lambda_python3.12", (), LAMBDA_PATHS, "http://x")
    assert env["PYTHONPATH"] == "/var/runtime" and "NODE_PATH" not in env
    # a function may set its own (as on Lambda, where PYTHONPATH is not reserved)
    own = fn_config("python3.12", environment={"PYTHONPATH": "/var/task/vendor"})
    assert build_env(own, "s", "x", (), LAMBDA_PATHS, "http://x")["PYTHONPATH"] == "/var/task/vendor"


# ---------------------------------------------------------------------------------------------------
# The interpreter lookup runs off the event loop


def test_health_answers_while_an_interpreter_lookup_is_slow(tmp_path: Path) -> None:
    real = RuntimeCatalog().python
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_finder(version: str) -> str | None:
        calls.append(version)
        entered.set()
        release.wait(60)
        return real(version)

    with LocalLambdabox(tmp_path / "data", catalog=RuntimeCatalog(find_python=slow_finder)) as lbx:
        lam = boto3.client(
            "lambda", endpoint_url=lbx.url, region_name="us-east-1", aws_access_key_id="test",
            aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}, read_timeout=120),
        )  # fmt: skip
        name = deploy(lam, {"app.py": "def handler(event, context):\n    return 'ok'\n"}, Timeout=30)
        with ThreadPoolExecutor(2) as pool:
            results = [pool.submit(invoke, lam, name) for _ in range(2)]
            assert entered.wait(60)
            with urllib.request.urlopen(f"{lbx.url}/_lambdabox/health", timeout=10) as resp:
                health = json.loads(resp.read())
            assert health["status"] == "running" and not any(r.done() for r in results)
            release.set()
            assert [r.result(timeout=60) for r in results] == ["ok", "ok"]
    assert calls.count("3.11") == 1  # two cold starts, one lookup
