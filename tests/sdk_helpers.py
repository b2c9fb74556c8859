"""The AWS SDK sets bundled for functions, as the test server finds them, and skips when one is missing."""

from __future__ import annotations

import shutil

import pytest

from lambdabox.lambda_.runtime_sdk import default_dir, find_runtime_sdk

SDK = find_runtime_sdk()  # where the test server (same interpreter, same sys.prefix) finds them
INSTALL = f"scripts/install-runtime-sdks.sh {default_dir()}"

needs_python_sdk = pytest.mark.skipif(
    SDK.python is None, reason=f"the Python SDK set is not installed: run {INSTALL} (make test does)"
)
needs_node_sdk = pytest.mark.skipif(
    shutil.which("node") is None or SDK.node_modules is None,
    reason=f"node or the Node.js SDK set is missing: run {INSTALL} with node/npm installed (make test does)",
)
