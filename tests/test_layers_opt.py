"""Where an environment finds its layers: the merged tree bound read-only at /opt with a root of
its own; without one (rlimits), the host's merged dir reached through the search paths (PATH,
LD_LIBRARY_PATH, NODE_PATH, and the Python bootstrap's sys.path), and the merge itself (later
layers over earlier ones, symlinks never written through)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap_python_helpers import StartRuntime

# The fixtures these tests use, re-exported here so that pytest finds them.
from bootstrap_python_helpers import api_fixture as api_fixture
from bootstrap_python_helpers import start_fixture as start_fixture
from conftest import make_zip
from lambdabox.lambda_.code import CodeStore, inspect_zip
from lambdabox.lambda_.invoker import EnvPaths, build_env
from lambdabox.lambda_.layer_trees import LayerTrees
from lambdabox.lambda_.models import FunctionConfig
from lambdabox.lambda_.sandbox import Sandbox, SandboxSpec


@pytest.fixture
def opt_dir() -> Iterator[Path]:
    """A merged layers tree outside the host's /tmp, readable by an environment's own uid."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else tempfile.gettempdir()
    d = Path(tempfile.mkdtemp(prefix="lbx-opt-", dir=base))
    d.chmod(0o755)
    (d / "python").mkdir(mode=0o755)
    (d / "python" / "from_layer.py").write_text("WHO = 'layer'\n")
    (d / "python" / "from_layer.py").chmod(0o644)
    yield d
    with contextlib.suppress(OSError):
        for p in sorted(d.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
        d.rmdir()


SCRIPT = """
    import json, os
    out = {"opt": sorted(os.listdir("/opt")) if os.path.isdir("/opt") else None}
    try:
        open("/opt/written", "w").close()
        out["write"] = "ok"
    except OSError as exc:
        out["write"] = exc.__class__.__name__
    print(json.dumps(out))
"""


@pytest.mark.parametrize("isolations", [("full", "userns"), ("rlimits",)], ids=["own-root", "rlimits"])
def test_opt_is_the_merged_tree(tmp_path: Path, opt_dir: Path, isolations: tuple[str, ...]) -> None:
    code = Path(tempfile.mkdtemp(prefix="lbx-code-", dir=opt_dir.parent))
    code.chmod(0o755)

    async def main() -> None:
        sb = Sandbox(tmp_path / "sandbox", isolations=(*isolations, "rlimits"))
        await sb.start()
        try:
            view = sb.view(code, opt_dir)
            if isolations == ("rlimits",):
                assert view.opt == str(opt_dir)
                assert sb.view(code).opt is None
                return
            if not sb.own_root:
                pytest.skip("no namespaces here")
            assert view.opt == "/opt"
            argv = [sys.executable, "-c", textwrap.dedent(SCRIPT)]
            spec = SandboxSpec(argv, {"PATH": os.defpath}, code, 128, 64, "opt", opt_dir=opt_dir)
            proc = await sb.spawn(spec)
            os.set_blocking(proc.stdout_fd, True)
            chunks = []
            while True:
                data = await asyncio.get_running_loop().run_in_executor(None, os.read, proc.stdout_fd, 65536)
                if not data:
                    break
                chunks.append(data)
            await proc.wait()
            got = json.loads(b"".join(chunks))
            assert got == {"opt": ["python"], "write": "OSError"}
            await proc.cleanup()
        finally:
            await sb.close()
            os.rmdir(code)

    asyncio.run(main())


def test_rlimits_search_paths_name_the_host_opt_dir() -> None:
    fn = FunctionConfig("us-east-1", "0" * 12, "f", "nodejs20.x", "r", "index.handler", "", 0, "k")
    paths = EnvPaths("/code", "/rt", ("/rt",), "/sdk/node_modules", "/data/opt/abc")
    env = build_env(fn, "s", "AWS_Lambda_nodejs20.x", ("/usr/bin",), paths, "http://x")
    assert env["PATH"].endswith(":/data/opt/abc/bin")
    assert env["LD_LIBRARY_PATH"].endswith(":/data/opt/abc/lib")
    assert env["NODE_PATH"].startswith(
        "/data/opt/abc/nodejs/node20/node_modules:/data/opt/abc/nodejs/node_modules:"
    )
    py = fn.replace(runtime="python3.12", handler="app.handler")
    assert (
        build_env(py, "s", "AWS_Lambda_python3.12", (), paths, "http://x")["_LAMBDABOX_OPT_DIR"]
        == "/data/opt/abc"
    )
    at_opt = EnvPaths("/var/task", "/var/runtime", ("/var/runtime",), None)
    assert "_LAMBDABOX_OPT_DIR" not in build_env(py, "s", "AWS_Lambda_python3.12", (), at_opt, "http://x")


def test_ld_library_path_is_lambdas_with_the_paths_the_environment_sees() -> None:
    fn = FunctionConfig("us-east-1", "0" * 12, "f", "python3.12", "r", "app.handler", "", 0, "k")
    at_opt = EnvPaths("/var/task", "/var/runtime", ("/var/runtime",), None)
    env = build_env(fn, "s", "AWS_Lambda_python3.12", ("/var/lang/bin",), at_opt, "http://x")
    assert env["LD_LIBRARY_PATH"] == (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
    )
    # rlimits mode: the host's paths; an interpreter in /usr/bin adds no system directory up front
    host = EnvPaths("/data/code/k", "/rt", ("/rt",), None, "/data/opt/abc")
    env = build_env(fn, "s", "AWS_Lambda_python3.12", ("/usr/bin", "/py/bin"), host, "http://x")
    assert env["LD_LIBRARY_PATH"] == (
        "/py/lib:/lib64:/usr/lib64:/rt:/rt/lib:/data/code/k:/data/code/k/lib:/data/opt/abc/lib"
    )


def test_python_bootstrap_puts_the_host_opt_dir_on_sys_path_and_hides_it(
    start: StartRuntime, tmp_path: Path, opt_dir: Path
) -> None:
    code = (
        "import os, sys\n"
        "def handler(event, context):\n"
        "    import from_layer\n"
        "    return [sys.path[:3], from_layer.WHO, os.environ.get('_LAMBDABOX_OPT_DIR')]\n"
    )
    runtime = start(code, env={"_LAMBDABOX_OPT_DIR": str(opt_dir)})
    paths, who, seen = runtime.invoke().json()
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert paths == [
        str(tmp_path),
        f"{opt_dir}/python/lib/python{version}/site-packages",
        f"{opt_dir}/python",
    ]
    assert who == "layer" and seen is None


def test_merge_later_layers_win_and_symlinks_are_never_written_through(tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    trees = LayerTrees(tmp_path / "opt", code)
    outside = tmp_path / "outside"
    outside.mkdir()
    first = make_zip({"python/a.py": "A = 1\n", "python/same.py": "who = 'first'\n"})
    # the first layer makes `lib` a symlink to a host directory; the second has a real `lib/`
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link = zipfile.ZipInfo("lib")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, str(outside))
    linked = buf.getvalue()
    second = make_zip({"python/same.py": "who = 'second'\n", "lib/libx.so": "ELF"})
    keys = []
    for data in (first, linked, second):
        info = inspect_zip(data)
        code.write_zip(info, data)
        keys.append(info.key)
    tree = trees.ensure(keys)
    assert (tree / "python" / "same.py").read_text() == "who = 'second'\n"
    assert (tree / "python" / "a.py").read_text() == "A = 1\n"
    assert not (tree / "lib").is_symlink() and (tree / "lib" / "libx.so").read_text() == "ELF"
    assert list(outside.iterdir()) == []
    assert trees.ensure(keys) == tree  # built once

    async def collect() -> None:
        trees.hold(tree.name)
        assert await trees.collect() == 0 and tree.is_dir()  # held: kept
        trees.release(tree.name)
        assert await trees.collect() == 1 and not tree.exists()

    asyncio.run(collect())
