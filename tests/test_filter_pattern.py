"""CloudWatch Logs filter pattern syntax: the user guide's examples, edge cases and properties."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambdabox.logs.filter_pattern import FilterPatternError, compile_pattern, matches, split_fields

# -- unstructured terms ------------------------------------------------------------------------


def test_empty_pattern_matches_everything() -> None:
    for pattern in ("", "   ", '""'):
        assert matches(pattern, "anything at all")
        assert matches(pattern, "")


def test_single_term_is_a_case_sensitive_substring() -> None:
    assert matches("ERROR", "[ERROR] A fatal exception has occurred")
    assert matches("ERROR", "Exiting with ERRORCODE: -1")
    assert not matches("ERROR", "error: lower case")


def test_all_terms_must_appear_in_any_order() -> None:
    assert matches("ERROR Exception", "[ERROR] Caught IllegalArgumentException")
    assert matches("ERROR Exception", "Exception in [ERROR] handler")
    assert not matches("ERROR Exception", "[ERROR] something else")
    assert matches("Failed to process the request", "[WARN] Failed to process the request")
    assert matches("Failed to process the request", "the request Failed to process")


def test_quoted_phrase_must_appear_verbatim() -> None:
    assert matches('"Failed to process"', "[WARN] Failed to process the request")
    assert not matches('"Failed to process"', "Failed, to process")
    assert matches('"ERROR 401"', "[ERROR 401] UNAUTHORIZED")
    assert matches(r'"say \"hi\""', 'they say "hi" now')


def test_question_mark_terms_need_any_one() -> None:
    events = ["ERROR WARN message", "ERROR message", "WARN message", "INFO message"]
    assert [e for e in events if matches("?ERROR ?WARN", e)] == events[:3]
    assert [e for e in events if matches("ERROR", e)] == events[:2]
    assert [e for e in events if matches("ERROR WARN", e)] == events[:1]


def test_minus_excludes_terms() -> None:
    events = ["ERROR WARN message", "ERROR message", "WARN message"]
    assert [e for e in events if matches("ERROR -WARN", e)] == ["ERROR message"]
    assert matches('"ERROR" - "Exiting"', "[ERROR] A fatal exception has occurred")
    assert not matches('"ERROR" - "Exiting"', "Exiting with ERRORCODE: -1")
    assert matches("-DEBUG", "INFO hello")
    assert not matches("-DEBUG", "DEBUG hello")


def test_regex_pattern() -> None:
    assert matches("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST")
    assert matches("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST")
    assert matches(r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "from 10.0.0.1 ok")
    assert not matches(r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "from localhost")
    assert matches("%[Ee]rror|[Ff]ail%", "it did fail")


def test_regex_backtracking_cannot_stall_matching() -> None:
    # Python's re takes hours over this (it backtracks through every split of the a's); RE2 is
    # linear in the message, so this returns at once: nothing here measures time, a regression
    # would hit the suite's timeout
    assert not matches("%a*a*a*b%", "a" * 100_000)
    assert matches("%a*a*a*b%", "a" * 100_000 + "b")
    assert not matches("{ $.m = %x*x*x*y% }", json.dumps({"m": "x" * 50_000}))
    assert not matches("[m = %x*x*x*y%]", "x" * 50_000)


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        (r"%^[hc]at%", "hat trick", True),
        (r"%^[hc]at%", "that", False),
        (r"%[hc]at$%", "a cat", True),
        (r"%[hc]at$%", "cats", False),
        (r"%colou?r%", "color", True),
        (r"%a{3,5}%", "baab", False),
        (r"%a{3,5}%", "baaab", True),
        (r"%\d+\.\d+%", "took 1.5 s", True),
        (r"%\bid\b%", "the id is", True),
        (r"%\bid\b%", "valid", False),
        (r"%\s\w+=\S%", "x key=v", True),
        (r"%[[:digit:]]{4}%", "year 2024", True),
        (r"%a.c%", "a\u00e9c", True),  # '.' is one character, not one byte
        (r"%a.c%", "a\nc", False),
    ],
)
def test_regex_subset_semantics(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


def test_regex_over_json_values_with_lone_surrogates() -> None:
    # a JSON message may spell a lone surrogate as an escape; matching must not fail on it
    message = '{"user": "x\\udcffadmin"}'
    assert matches("{ $.user = %admin$% }", message)
    assert not matches("{ $.user = %^admin% }", message)


@pytest.mark.parametrize(
    "pattern",
    [
        r"%a\Z%",  # RE2 has no \Z (use $)
        r"%\Gx%",
        r"%a{1001}%",  # RE2 repeats at most 1000 times
        r"%\u0041%",
        r"%a**%",
        r"%ab\%",
        r"{ $.a = %x\Z% }",
        r"[a = %x\Z%]",
    ],
)
def test_regexes_re2_cannot_run_are_rejected(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


# -- JSON --------------------------------------------------------------------------------------

TRAIL = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
        "OtherFlag": False,
    }
)

USERS = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.eventType = "UpdateTrail" }',
        "{ $.eventType = UpdateTrail }",
        "{$.eventType=UpdateTrail}",
        "{ $.sourceIPAddress != 123.123.* }",
        "{ $.sourceIPAddress = 111.111.* }",
        '{ $.arrayKey[0] = "value" }',
        "{ $.objectList[1].id = 2 }",
        "{ $.SomeObject IS NULL }",
        "{ $.SomeOtherObject NOT EXISTS }",
        "{ $.eventType EXISTS }",
        "{ $.ThisFlag IS TRUE }",
        "{ $.OtherFlag IS FALSE }",
        "{ $.eventType = *Trail }",
        "{ $.eventType = Update* }",
        "{ $.eventType = *date* }",
        "{ $.eventType = * }",
        "{ $.eventType = %Up.*Trail% }",
    ],
)
def test_json_guide_examples_match(pattern: str) -> None:
    assert matches(pattern, TRAIL)


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.eventType = "Update" }',
        "{ $.eventType = Up*Trail }",  # a '*' in the middle is a literal character
        "{ $.sourceIPAddress != 111.111.* }",
        '{ $.arrayKey[0] = "another value" }',
        '{ $.arrayKey[5] = "value" }',
        "{ $.objectList[1].id = 1 }",
        "{ $.eventType IS NULL }",
        "{ $.SomeObject NOT EXISTS }",
        "{ $.SomeOtherObject EXISTS }",
        "{ $.ThisFlag IS FALSE }",
        "{ $.missing = * }",
        "{ $.SomeObject = * }",
    ],
)
def test_json_guide_examples_do_not_match(pattern: str) -> None:
    assert not matches(pattern, TRAIL)


def test_json_compound_conditions_follow_precedence() -> None:
    assert matches('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', USERS)
    assert not matches('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', USERS)
    assert matches(
        '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }',
        USERS,
    )
    assert not matches(
        '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }',
        USERS,
    )
    assert matches("{ $.coordinates[2][0] = 7 }", USERS)


def test_json_or_between_values() -> None:
    bar, baz = '{"foo": "bar"}', '{"foo": "baz"}'
    assert matches("{$.foo = bar}", bar) and not matches("{$.foo = bar}", baz)
    assert matches("{$.foo = bar || $.foo = baz }", bar) and matches("{$.foo = bar || $.foo = baz }", baz)


def test_json_selector_on_array_or_object_matches_nothing() -> None:
    doc = '{"users": [1, 2, 3]}'
    assert not matches("{$.users = 1}", doc)
    assert not matches("{$.users != 1}", doc)


def test_json_numeric_comparisons() -> None:
    doc = json.dumps(
        {"latency": 600, "numbers": [0.001, 20000], "processes": [0, 0, 0, 0, {"averageRuntime": 55.5}]}
    )
    assert matches("{ $.latency >= 500 }", doc)
    assert matches("{ $.latency > +500 }", doc)
    assert not matches("{ $.latency < 500 }", doc)
    assert matches("{ $.numbers[0] < 10e-3 }", doc)
    assert matches("{ $.numbers[1] > 10e3 }", doc)
    assert matches("{ $.processes[4].averageRuntime <= 55.5 }", doc)
    assert matches("{ $.latency = 600 }", doc) and matches("{ $.latency != 500 }", doc)
    assert matches("{ $.latency = 6e2 }", doc)


def test_json_pattern_never_matches_non_json_messages() -> None:
    assert not matches("{ $.a NOT EXISTS }", "plain text")
    assert not matches("{ $.a = 1 }", '{"a": 1')
    assert matches("{ $.a = 1 }", '  {"a": 1}\n')


# -- space-delimited ---------------------------------------------------------------------------

APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /index.html HTTP/1.0" 404 4355',
]


def test_split_fields_groups_quotes_and_brackets() -> None:
    assert split_fields(APACHE[0]) == [
        "127.0.0.1",
        "-",
        "frank",
        "10/Oct/2000:13:25:15 -0700",
        "GET /apache_pb.gif HTTP/1.0",
        "200",
        "1534",
    ]


def _which(pattern: str) -> list[int]:
    return [i for i, line in enumerate(APACHE) if matches(pattern, line)]


def test_delimited_fields_and_conditions() -> None:
    assert _which("[ip, user, username, timestamp, request, status_code, bytes]") == [0, 1, 2]
    assert _which("[ip, user, username, timestamp, request, status_code]") == []  # field count differs
    assert _which("[ip, user, username, timestamp, request, status_code, bytes > 5000]") == [1]
    assert _which("[ip, user, username, timestamp, request, status_code = 200, bytes]") == [0]
    assert _which("[ip, user, username, timestamp, request, status_code = 4*, bytes]") == [2]
    assert _which("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]") == [2]
    assert _which('[ip, user, username, timestamp, request = "*gif*", status_code, bytes]') == [0, 1]
    assert _which(
        "[ip, user, username, timestamp, request, status_code = 4* || status_code = 5*, bytes]"
    ) == [1, 2]
    assert _which("[ip, user, username, timestamp, request, status_code != 200 && bytes > 5000, bytes]") == [
        1
    ]


def test_delimited_ellipsis() -> None:
    assert _which("[..., status_code, bytes]") == [0, 1, 2]
    assert _which("[..., status_code = 500, bytes]") == [1]
    assert _which("[ip, user, ..., status_code, bytes > 4000]") == [1, 2]
    assert _which("[ip = 127.0.0.1, user, ...]") == [0, 1, 2]
    assert _which("[ip = 10.*, ...]") == []
    assert _which("[..., request=*.html*, status_code=4*,]") == [2]  # the trailing comma adds a field
    assert _which("[..., request=*.html*, status_code=4*]") == []
    assert _which("[ip, , , , , status_code = 500, ]") == [1]


def test_delimited_or_and_on_words() -> None:
    lines = ["ERROR WARN message", "ERROR message", "WARN message"]
    assert [x for x in lines if matches("[w1=ERROR, w2]", x)] == ["ERROR message"]
    assert [x for x in lines if matches("[w1=ERROR || w1=WARN, w2]", x)] == ["ERROR message", "WARN message"]
    assert [x for x in lines if matches("[w1!=ERROR&&w1!=WARN, w2]", x)] == []
    assert [x for x in lines if matches("[w1, w2, w3]", x)] == ["ERROR WARN message"]


# -- invalid patterns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        '"unterminated',
        "?",
        "ERROR -",
        'ab"cd',
        "{ $.a = }",
        "{ $.a = 1",
        "{ a = 1 }",
        "{ $. = 1 }",
        "{ $.a > abc }",
        "{ $.a = 1 && }",
        "{ ($.a = 1 }",
        "{ $.a IS MAYBE }",
        "{ $.a }",
        "{}",
        "[]",
        "[a, b",
        "[a = ]",
        "%(group)%",
        "%unterminated",
        "%%",
    ],
)
def test_invalid_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


# -- properties --------------------------------------------------------------------------------

WORD = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=6)
MESSAGE = st.text(alphabet=string.ascii_letters + string.digits + "_ .:[]-", max_size=60)


@given(st.lists(WORD, min_size=1, max_size=4), MESSAGE)
def test_terms_match_iff_all_are_substrings(words: list[str], message: str) -> None:
    assert matches(" ".join(words), message) == all(w in message for w in words)


@given(st.lists(WORD, min_size=1, max_size=4), MESSAGE)
def test_optional_terms_match_iff_any_is_a_substring(words: list[str], message: str) -> None:
    assert matches(" ".join("?" + w for w in words), message) == any(w in message for w in words)


@given(WORD, st.lists(WORD, max_size=3), MESSAGE)
def test_excluded_terms_veto(required: str, excluded: list[str], message: str) -> None:
    pattern = " ".join([required, *("-" + w for w in excluded)])
    expected = required in message and not any(w in message for w in excluded)
    assert matches(pattern, message) == expected


@given(st.text(max_size=20), st.text(max_size=40))
def test_quoted_phrase_is_substring(phrase: str, message: str) -> None:
    quoted = '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert matches(quoted, message) == (phrase in message)
    assert matches(quoted, message + phrase + message)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), st.integers(-1000, 1000), min_size=1
    ),
    st.integers(-1000, 1000),
)
def test_json_numeric_operators_agree_with_python(doc: dict[str, int], value: int) -> None:
    message = json.dumps(doc)
    for key, actual in doc.items():
        assert matches(f"{{ $.{key} = {value} }}", message) == (actual == value)
        assert matches(f"{{ $.{key} != {value} }}", message) == (actual != value)
        assert matches(f"{{ $.{key} < {value} }}", message) == (actual < value)
        assert matches(f"{{ $.{key} >= {value} }}", message) == (actual >= value)
    assert not matches(f"{{ $.zz_missing = {value} }}", message) or "zz_missing" in doc


@given(
    st.lists(
        st.text(alphabet=string.ascii_letters + string.digits + "/:.-", min_size=1, max_size=8), max_size=8
    )
)
def test_split_fields_round_trips_plain_tokens(tokens: list[str]) -> None:
    assert split_fields(" ".join(tokens)) == tokens
    assert split_fields("  ".join(f'"{t} {t}"' for t in tokens)) == [f"{t} {t}" for t in tokens]


@given(st.text(max_size=40))
def test_compile_fails_only_with_filter_pattern_error(pattern: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return
    compiled.matches("some message")
    compiled.matches('{"a": 1}')
