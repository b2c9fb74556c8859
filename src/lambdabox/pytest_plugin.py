"""pytest fixtures for tests against lambdabox, each a fresh server on a manual clock in the
test's own temporary directory:

- `lambdabox`: in this process (`lambdabox.testing.LocalLambdabox`), started in a fraction of a
  second;
- `lambdabox_process`: a `lambdabox serve --clock manual --port 0` subprocess
  (`lambdabox.testing.LambdaboxProcess`), the server exactly as users run it.

Both give the same interface (`lambdabox.testing.Lambdabox`). pytest loads this module through
lambdabox's `pytest11` entry point once lambdabox is installed (`-p no:lambdabox.pytest_plugin`
turns it off; `pytest_plugins = ["lambdabox.pytest_plugin"]` or `-p lambdabox.pytest_plugin`
loads it where the entry point is not installed). Nothing is imported until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from lambdabox.testing import LambdaboxProcess, LocalLambdabox


@pytest.fixture
def lambdabox(tmp_path: Path) -> Iterator[LocalLambdabox]:
    """A lambdabox server in this process, on a manual clock, its data in `tmp_path`."""
    from lambdabox.testing import LocalLambdabox

    with LocalLambdabox(tmp_path / "lambdabox", manual_clock=True) as server:
        yield server


@pytest.fixture
def lambdabox_process(tmp_path: Path) -> Iterator[LambdaboxProcess]:
    """A `lambdabox serve --clock manual` subprocess on a free port, its data in `tmp_path`."""
    from lambdabox.testing import LambdaboxProcess

    with LambdaboxProcess(tmp_path / "lambdabox-process") as server:
        yield server
