"""deploy/yamlfile.py: CloudFormation short tags in long form, key lines, errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabox.deploy.project import ProjectError
from lambdabox.deploy.serverless import compile_serverless
from lambdabox.deploy.yamlfile import load, loads

TEMPLATE = """\
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Role: !GetAtt Role.Arn
      Name: !Sub "${AWS::StackName}-fn"
      Bucket: !Ref Bucket
      Joined: !Join [",", [a, !Ref B]]
      AZ: !Select [0, !GetAZs ""]
      Enc: !Base64 hello
      Found: !FindInMap [M, !Ref "AWS::Region", K]
      Split: !Split [",", "a,b"]
      Imp: !ImportValue other
      Pick: !If [IsProd, 1, 2]
      Att2: !GetAtt [Role, Arn]
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Condition IsProd, !Condition NotProd]]
"""


def test_short_tags_become_long_form(tmp_path: Path) -> None:
    doc = loads(TEMPLATE, file=tmp_path / "template.yaml")
    props = doc.data["Resources"]["Fn"]["Properties"]
    assert props["Role"] == {"Fn::GetAtt": ["Role", "Arn"]}
    assert props["Name"] == {"Fn::Sub": "${AWS::StackName}-fn"}
    assert props["Bucket"] == {"Ref": "Bucket"}
    assert props["Joined"] == {"Fn::Join": [",", ["a", {"Ref": "B"}]]}
    assert props["AZ"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert props["Enc"] == {"Fn::Base64": "hello"}
    assert props["Found"] == {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "K"]}
    assert props["Split"] == {"Fn::Split": [",", "a,b"]}
    assert props["Imp"] == {"Fn::ImportValue": "other"}
    assert props["Pick"] == {"Fn::If": ["IsProd", 1, 2]}
    assert props["Att2"] == {"Fn::GetAtt": ["Role", "Arn"]}
    conds = doc.data["Conditions"]
    assert conds["IsProd"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    assert conds["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert conds["Both"] == {
        "Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "NotProd"}]}]
    }


def test_lines_of_keys_and_items(tmp_path: Path) -> None:
    doc = loads("a:\n  b:\n    - x\n    - y: 1\n      z: 2\nc: 3\n", file=tmp_path / "serverless.yml")
    assert doc.lines[("a",)] == 1
    assert doc.lines[("a", "b")] == 2
    assert doc.lines[("a", "b", 1)] == 4
    assert doc.lines[("a", "b", 1, "z")] == 5
    assert doc.lines[("c",)] == 6
    assert str(doc.where(("a", "b", 1, "z"))) == "serverless.yml:5: a.b.1.z"
    # deeper than the file: the nearest ancestor's line
    assert str(doc.where(("c", "made", "up"))) == "serverless.yml:6: c.made.up"


def test_plain_yaml_values(tmp_path: Path) -> None:
    doc = loads(
        "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nv: 2012-10-17\nn: ~\nt: true\nf: 1.5\non: yes\n",
        file=tmp_path / "f.yml",
    )
    assert doc.data["m"] == {"x": 1, "y": 3}
    assert doc.data["v"] == "2012-10-17"
    assert doc.data["n"] is None and doc.data["t"] is True and doc.data["f"] == 1.5
    assert doc.data["on"] is True


def test_empty_file(tmp_path: Path) -> None:
    assert loads("", file=tmp_path / "e.yml").data is None


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "serverless.yml"
    path.write_text("service: x\nprovider:\n  name: aws\n  runtime: [nodejs20.x\nfunctions: {}\n")
    with pytest.raises(ProjectError) as e:
        load(path)
    (problem,) = e.value.problems
    assert problem.where.file == "serverless.yml"
    assert problem.where.line is not None and problem.where.line >= 4
    assert "invalid YAML" in problem.message


def test_duplicate_key_and_unknown_tag_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as e:
        loads("a: 1\nb: 2\na: 3\n", file=tmp_path / "s.yml")
    assert str(e.value.problems[0].where) == "s.yml:3: a"
    with pytest.raises(ProjectError) as e:
        loads("a:\n  b: !Nope x\n", file=tmp_path / "s.yml")
    assert "unknown tag !Nope" in str(e.value)
    assert e.value.problems[0].where.line == 2
    with pytest.raises(ProjectError, match=r"Resource\.Attribute"):
        loads("a: !GetAtt nodot\n", file=tmp_path / "s.yml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="cannot read"):
        load(tmp_path / "nope.yml")


BOMB = 'service: bl\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)  # 9**9 = 387 million strings once expanded


def test_an_alias_bomb_is_refused_at_the_first_alias(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as e:
        loads(BOMB, file=tmp_path / "serverless.yml")
    assert [str(p) for p in e.value.problems] == [
        "serverless.yml:3: error: invalid YAML: aliases (*name) expand this file to more than 1,000,000 values "
        "(an alias bomb?): refused"
    ]
    with pytest.raises(ProjectError) as e:
        loads("x: 1\na: &a [1, *a]\n", file=tmp_path / "s.yml")  # an alias inside what it names
    assert [str(p) for p in e.value.problems] == [
        "s.yml:2: error: invalid YAML: an alias refers to the mapping or list that contains it: "
        "it would expand without end"
    ]
    # anchors used as people use them are fine, shared many times over
    many = "base: &b {x: 1, y: [1, 2, 3]}\n" + "".join(f"k{i}: {{<<: *b, z: *b}}\n" for i in range(2000))
    doc = loads(many, file=tmp_path / "ok.yml")
    assert doc.data["k1999"] == {"x": 1, "y": [1, 2, 3], "z": {"x": 1, "y": [1, 2, 3]}}


def test_nesting_deeper_than_100_levels_is_an_error_with_its_line(tmp_path: Path) -> None:
    deep = "Metadata:\n  Deep: " + "[" * 5000 + "1" + "]" * 5000 + "\n"
    with pytest.raises(ProjectError) as e:
        loads(deep, file=tmp_path / "template.yaml")
    assert [str(p) for p in e.value.problems] == [
        "template.yaml:2: error: invalid YAML: nested too deeply: more than 100 levels of mappings and lists"
    ]
    assert loads("a: " + "[" * 99 + "1" + "]" * 99 + "\n", file=tmp_path / "t.yml").data["a"]  # 100 levels
    # aliases nest too: fifty lists of fifty levels, each holding the previous one
    chain = "a0: &a0 " + "[" * 50 + "1" + "]" * 50 + "\n"
    chain += "".join(f"a{i}: &a{i} " + "[" * 50 + f"*a{i - 1}" + "]" * 50 + "\n" for i in range(1, 50))
    with pytest.raises(ProjectError, match=r"t.yml:2: error: invalid YAML: nested too deeply"):
        loads(chain, file=tmp_path / "t.yml")


def test_a_serverless_yml_nested_to_the_limit_compiles(tmp_path: Path) -> None:
    (tmp_path / "h.py").write_text("def handler(e, c):\n    return 1\n")
    deep = "[" * 98 + "1" + "]" * 98  # with custom: and the root, 100 levels
    (tmp_path / "serverless.yml").write_text(
        "service: deep\nprovider: {name: aws, runtime: python3.12}\n"
        f"custom:\n  deep: {deep}\n"
        "functions:\n  f:\n    handler: h.handler\n    environment:\n      X: ${self:custom.deep}\n"
    )
    project = compile_serverless(tmp_path / "serverless.yml")
    assert "FLambdaFunction" in project.template["Resources"]
    (tmp_path / "serverless.yml").write_text(f"service: deep\ncustom:\n  deep: [{deep}]\n")
    with pytest.raises(ProjectError, match=r"serverless.yml:3: error: invalid YAML: nested too deeply"):
        compile_serverless(tmp_path / "serverless.yml")
