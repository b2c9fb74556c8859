"""deploy/package.py: zips as the Serverless Framework packages them, deterministic, requirements once."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from lambdabox.deploy.package import artifact_from_zip, build_artifact, glob_regex
from lambdabox.deploy.project import ProjectError, Where


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_default_excludes_and_determinism(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "handler.js": "exports.handler = async () => 1;",
            "lib/util.js": "module.exports = 1;",
            ".git/HEAD": "ref",
            ".gitignore": "x",
            ".serverless/state.json": "{}",
            ".lambdabox/cache": "x",
            "npm-debug.log": "x",
            "yarn-error.log": "x",
            "serverless.yml": "service: x",
            ".env": "A=1",
        },
    )
    a = build_artifact(tmp_path, [], "nodejs20.x", exclude=["serverless.yml"])
    assert names(a.zip_bytes) == [".env", "handler.js", "lib/util.js"]
    assert a.key == f"{a.sha256}.zip" and hashlib.sha256(a.zip_bytes).hexdigest() == a.sha256
    os.utime(tmp_path / "handler.js", (1, 1))  # new mtimes, same files: the same zip
    assert build_artifact(tmp_path, [], "nodejs20.x", exclude=["serverless.yml"]).sha256 == a.sha256
    (tmp_path / "handler.js").write_text("exports.handler = async () => 2;")
    assert build_artifact(tmp_path, [], "nodejs20.x", exclude=["serverless.yml"]).sha256 != a.sha256


def test_zip_entries_keep_exec_bit_and_fixed_time(tmp_path: Path) -> None:
    write(tmp_path, {"bootstrap": "#!/bin/sh\n", "a.txt": "a"})
    (tmp_path / "bootstrap").chmod(0o755)
    zf = zipfile.ZipFile(io.BytesIO(build_artifact(tmp_path, [], "provided.al2023").zip_bytes))
    info = {i.filename: i for i in zf.infolist()}
    assert (info["bootstrap"].external_attr >> 16) & 0o777 == 0o755
    assert (info["a.txt"].external_attr >> 16) & 0o777 == 0o644
    assert info["a.txt"].date_time == (1980, 1, 1, 0, 0, 0)


def test_patterns_in_order_with_negation(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/a.js": "",
            "src/a.test.js": "",
            "tests/t.js": "",
            "docs/readme.md": "",
            "node_modules/keep/index.js": "",
            "node_modules/drop/index.js": "",
            "top.md": "",
        },
    )
    patterns = ["!tests/**", "!**/*.test.js", "!node_modules/**", "node_modules/keep/**", "!*.md", "!docs"]
    got = names(build_artifact(tmp_path, patterns, "nodejs20.x").zip_bytes)
    assert got == ["node_modules/keep/index.js", "src/a.js"]
    only = names(build_artifact(tmp_path, ["!**", "src/**", "!src/*.test.js"], "nodejs20.x").zip_bytes)
    assert only == ["src/a.js"]


def test_globs() -> None:
    assert glob_regex("*.js").fullmatch("a.js") and not glob_regex("*.js").fullmatch("d/a.js")
    assert glob_regex("**/*.js").fullmatch("a.js") and glob_regex("**/*.js").fullmatch("d/e/a.js")
    assert glob_regex("./src/{a,b}.py").fullmatch("src/b.py")
    assert glob_regex("file?.txt").fullmatch("file1.txt") and not glob_regex("file?.txt").fullmatch(
        "file10.txt"
    )


def test_node_dependencies_without_node_modules_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"package.json": json.dumps({"dependencies": {"express": "^5"}}), "app.js": ""})
    with pytest.raises(ProjectError, match=r"node_modules is missing express.*npm ci"):
        build_artifact(tmp_path, [], "nodejs20.x")
    write(tmp_path, {"node_modules/express/index.js": ""})
    assert "node_modules/express/index.js" in names(build_artifact(tmp_path, [], "nodejs20.x").zip_bytes)


def test_dev_dependencies_left_out(tmp_path: Path) -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"dependencies": {"a": "1"}, "devDependencies": {"jest": "1"}},
            "node_modules/a": {"version": "1"},
            "node_modules/jest": {"version": "1", "dev": True},
        },
    }
    write(
        tmp_path,
        {
            "package.json": json.dumps({"dependencies": {"a": "1"}, "devDependencies": {"jest": "1"}}),
            "package-lock.json": json.dumps(lock),
            "node_modules/a/index.js": "",
            "node_modules/jest/index.js": "",
        },
    )
    got = names(build_artifact(tmp_path, [], "nodejs20.x").zip_bytes)
    assert "node_modules/a/index.js" in got and "node_modules/jest/index.js" not in got


def make_wheel(path: Path, name: str, version: str, module_text: str) -> None:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module_text,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{k},,\n" for k in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
        zf.writestr(f"{dist}/RECORD", record)


def test_python_requirements_installed_once_and_merged(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels / "tinydep-1.0-py3-none-any.whl", "tinydep", "1.0", "VALUE = 1\n")
    app = tmp_path / "app"
    write(
        app,
        {"app.py": "import tinydep\n", "requirements.txt": f"{wheels / 'tinydep-1.0-py3-none-any.whl'}\n"},
    )
    first = build_artifact(app, [], "python3.12")
    assert {"app.py", "requirements.txt", "tinydep.py"} <= set(names(first.zip_bytes))
    cache = list((app / ".lambdabox" / "requirements").iterdir())
    assert len(cache) == 1
    # reused until requirements.txt changes: the wheel can be gone, the build is the same
    (wheels / "tinydep-1.0-py3-none-any.whl").unlink()
    assert build_artifact(app, [], "python3.12").sha256 == first.sha256
    # a changed requirements.txt that cannot be installed: a clear error
    (app / "requirements.txt").write_text(f"{wheels / 'missing-2.0-py3-none-any.whl'}\n")
    with pytest.raises(
        ProjectError, match=r"requirements.txt: error: pip install -r requirements.txt failed"
    ):
        build_artifact(app, [], "python3.12")


def test_prebuilt_artifact(tmp_path: Path) -> None:
    (tmp_path / "a.zip").write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="not a zip"):
        artifact_from_zip(tmp_path / "a.zip")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.js", "")
    (tmp_path / "b.zip").write_bytes(buf.getvalue())
    assert artifact_from_zip(tmp_path / "b.zip").zip_bytes == buf.getvalue()


def test_symlinked_directories_are_packaged_under_every_path_and_cycles_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    write(outside, {"helpers.py": "X = 1\n"})
    app = tmp_path / "app"
    store = "node_modules/.pnpm/leftpad@1.0.0/node_modules/leftpad"
    write(
        app,
        {
            f"{store}/index.js": "module.exports = (s) => s;\n",
            f"{store}/package.json": '{"name": "leftpad", "main": "index.js"}',
            "real/inner.py": "",
            "h.js": "",
        },
    )
    (app / "node_modules" / "leftpad").symlink_to(".pnpm/leftpad@1.0.0/node_modules/leftpad")  # as pnpm does
    (app / "inlink").symlink_to("real")
    (app / "real" / "back").symlink_to("..")  # a cycle: the project's own root
    (app / "real" / "self").symlink_to(".")  # a cycle: real itself
    (app / "shared").symlink_to(outside)  # outside the project: followed, as the Framework does
    got = names(build_artifact(app, [], "nodejs20.x").zip_bytes)
    assert got == [
        "h.js",
        "inlink/inner.py",
        f"{store}/index.js",
        f"{store}/package.json",
        "node_modules/leftpad/index.js",
        "node_modules/leftpad/package.json",
        "real/inner.py",
        "shared/helpers.py",
    ]


def sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # no disk blocks: the size is what the packager sees


def test_code_over_lambda_s_unzipped_limit_is_an_error_naming_the_place(tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "def handler(e, c):\n    return 1\n"})
    sparse(tmp_path / "data" / "a.bin", 150_000_000)
    sparse(tmp_path / "data" / "b.bin", 150_000_000)
    where = Where("serverless.yml", 7, "functions.f.handler")
    with pytest.raises(ProjectError) as e:
        build_artifact(tmp_path, [], "python3.12", where=where)
    [problem] = e.value.problems
    assert problem.where == where
    assert problem.message == (
        f"the code in {tmp_path.resolve()} is more than Lambda's limit of 262,144,000 bytes unzipped "
        "(CodeSizeUnzipped): at least 300,000,032 bytes once data/b.bin (150,000,000 bytes) is in; "
        "leave files out of the package or package a smaller directory"
    )
    # what patterns leave out does not count
    assert names(build_artifact(tmp_path, ["!data/b.bin"], "python3.12").zip_bytes) == [
        "app.py",
        "data/a.bin",
    ]
    # without a place, the directory is named
    with pytest.raises(ProjectError) as e:
        build_artifact(tmp_path, [], "python3.12")
    assert e.value.problems[0].where == Where(str(tmp_path.resolve()))
