"""Event filtering: pattern operators, validation messages, FilterSet and the per-source views."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from eventhub.mapping.filter_views import kafka_view, kinesis_view, rmq_view, sqs_view
from eventhub.mapping.filters import (
    MAX_PATTERN_CHARS,
    FilterSet,
    PatternError,
    compile_pattern,
)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


P = pytest.param

# (pattern, record, expected)
MATCH_CASES = [
    # exact values
    P({"a": ["x"]}, {"a": "x"}, True, id="exact-string"),
    P({"a": ["x"]}, {"a": "y"}, False, id="exact-string-other"),
    P({"a": ["x", "y"]}, {"a": "y"}, True, id="exact-any-of"),
    P({"a": ["x"]}, {"a": "X"}, False, id="exact-is-case-sensitive"),
    P({"a": [None]}, {"a": None}, True, id="null"),
    P({"a": [None]}, {}, False, id="null-is-not-missing"),
    P({"a": [None]}, {"a": ""}, False, id="null-is-not-empty-string"),
    P({"a": [""]}, {"a": ""}, True, id="empty-string"),
    P({"a": [""]}, {"a": None}, False, id="empty-string-is-not-null"),
    # numbers are equal as written (AWS): 300 != 300.0; decimals compare by value
    P({"a": [300]}, {"a": 300}, True, id="number-same"),
    P({"a": [300]}, {"a": 300.0}, False, id="number-int-is-not-decimal"),
    P({"a": [3.0e2]}, {"a": 300}, False, id="number-decimal-is-not-int"),
    P({"a": [3.0e2]}, {"a": 300.0}, True, id="number-decimals-by-value"),
    P({"a": [{"anything-but": [300]}]}, {"a": 300.0}, True, id="anything-but-number-as-written"),
    P({"a": [{"anything-but": [300]}]}, {"a": 300}, False, id="anything-but-number-same"),
    P({"a": [300]}, {"a": 301}, False, id="number-other"),
    P({"a": [300]}, {"a": "300"}, False, id="number-is-not-string"),
    P({"a": ["300"]}, {"a": 300}, False, id="string-is-not-number"),
    P({"a": [True]}, {"a": True}, True, id="true"),
    P({"a": [True]}, {"a": 1}, False, id="true-is-not-1"),
    P({"a": [1]}, {"a": True}, False, id="1-is-not-true"),
    P({"a": [False]}, {"a": 0}, False, id="false-is-not-0"),
    # prefix / suffix
    P({"a": [{"prefix": "us-"}]}, {"a": "us-east-1"}, True, id="prefix"),
    P({"a": [{"prefix": "us-"}]}, {"a": "eu-west-1"}, False, id="prefix-other"),
    P({"a": [{"prefix": "1"}]}, {"a": 12}, False, id="prefix-ignores-numbers"),
    P({"a": [{"suffix": ".png"}]}, {"a": "cat.png"}, True, id="suffix"),
    P({"a": [{"suffix": ".png"}]}, {"a": "cat.PNG"}, False, id="suffix-case-sensitive"),
    # equals-ignore-case
    P({"a": [{"equals-ignore-case": "aBc"}]}, {"a": "AbC"}, True, id="ignore-case"),
    P({"a": [{"equals-ignore-case": "abc"}]}, {"a": "abcd"}, False, id="ignore-case-other"),
    # wildcard
    P({"a": [{"wildcard": "*.png"}]}, {"a": "dir/cat.png"}, True, id="wildcard-leading"),
    P({"a": [{"wildcard": "*.png"}]}, {"a": "cat.png.txt"}, False, id="wildcard-anchored"),
    P({"a": [{"wildcard": "a*b*c"}]}, {"a": "a--b--c"}, True, id="wildcard-two-stars"),
    P({"a": [{"wildcard": "a*b*c"}]}, {"a": "acb"}, False, id="wildcard-order"),
    P({"a": [{"wildcard": "*"}]}, {"a": ""}, True, id="wildcard-star-matches-empty"),
    P({"a": [{"wildcard": "a.c"}]}, {"a": "abc"}, False, id="wildcard-dot-is-literal"),
    P({"a": [{"wildcard": "x\\*"}]}, {"a": "x*"}, True, id="wildcard-escaped-star"),
    P({"a": [{"wildcard": "x\\*"}]}, {"a": "xy"}, False, id="wildcard-escaped-star-literal"),
    P({"a": [{"wildcard": "x\\\\*"}]}, {"a": "x\\yz"}, True, id="wildcard-escaped-backslash"),
    P({"a": [{"wildcard": "*"}]}, {"a": 5}, False, id="wildcard-ignores-numbers"),
    P({"a": [{"wildcard": "*\n*"}]}, {"a": "one\ntwo"}, True, id="wildcard-crosses-newlines"),
    # anything-but
    P({"a": [{"anything-but": "x"}]}, {"a": "y"}, True, id="anything-but-scalar"),
    P({"a": [{"anything-but": "x"}]}, {"a": "x"}, False, id="anything-but-scalar-excluded"),
    P({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"}, True, id="anything-but-list"),
    P({"a": [{"anything-but": ["x", "y"]}]}, {"a": "y"}, False, id="anything-but-list-excluded"),
    P({"a": [{"anything-but": [1, 2]}]}, {"a": 2}, False, id="anything-but-number-listed"),
    P({"a": [{"anything-but": [1, 2]}]}, {"a": 3}, True, id="anything-but-number-other"),
    P({"a": [{"anything-but": 1}]}, {"a": True}, True, id="anything-but-1-keeps-true"),
    P({"a": [{"anything-but": "x"}]}, {"a": None}, True, id="anything-but-null-present"),
    P({"a": [{"anything-but": "x"}]}, {}, False, id="anything-but-missing"),
    P({"a": [{"anything-but": {"prefix": "tmp"}}]}, {"a": "data"}, True, id="anything-but-prefix"),
    P(
        {"a": [{"anything-but": {"prefix": "tmp"}}]},
        {"a": "tmp1"},
        False,
        id="anything-but-prefix-no",
    ),
    P(
        {"a": [{"anything-but": {"suffix": ".tmp"}}]},
        {"a": "a.txt"},
        True,
        id="anything-but-suffix",
    ),
    P(
        {"a": [{"anything-but": {"suffix": ".tmp"}}]},
        {"a": "a.tmp"},
        False,
        id="anything-but-suffix-no",
    ),
    # numeric
    P({"a": [{"numeric": ["=", 5]}]}, {"a": 5.0}, True, id="numeric-eq"),
    P({"a": [{"numeric": ["=", 5]}]}, {"a": 5.1}, False, id="numeric-eq-other"),
    P({"a": [{"numeric": ["<", 5]}]}, {"a": 4.9}, True, id="numeric-lt"),
    P({"a": [{"numeric": ["<", 5]}]}, {"a": 5}, False, id="numeric-lt-boundary"),
    P({"a": [{"numeric": ["<=", 5]}]}, {"a": 5}, True, id="numeric-le"),
    P({"a": [{"numeric": ["<=", 5]}]}, {"a": 6}, False, id="numeric-le-above"),
    P({"a": [{"numeric": [">", 0]}]}, {"a": 1}, True, id="numeric-gt"),
    P({"a": [{"numeric": [">", 0]}]}, {"a": 0}, False, id="numeric-gt-boundary"),
    P({"a": [{"numeric": [">=", 0]}]}, {"a": 0}, True, id="numeric-ge"),
    P({"a": [{"numeric": [">=", 0]}]}, {"a": -1}, False, id="numeric-ge-below"),
    P({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 5}, True, id="numeric-range-top"),
    P({"a": [{"numeric": [">", 0, "<=", 5]}]}, {"a": 0}, False, id="numeric-range-bottom"),
    P({"a": [{"numeric": [">=", 0, "<", 5]}]}, {"a": 5}, False, id="numeric-range-open-top"),
    P({"a": [{"numeric": [">", 0]}]}, {"a": "5"}, False, id="numeric-ignores-strings"),
    P({"a": [{"numeric": [">", 0]}]}, {"a": True}, False, id="numeric-ignores-booleans"),
    # exists
    P({"a": [{"exists": True}]}, {"a": "x"}, True, id="exists-true"),
    P({"a": [{"exists": True}]}, {"a": None}, True, id="exists-true-null-value"),
    P({"a": [{"exists": True}]}, {}, False, id="exists-true-missing"),
    P({"a": [{"exists": True}]}, {"a": {"b": 1}}, False, id="exists-true-object"),
    P({"a": [{"exists": True}]}, {"a": []}, False, id="exists-true-empty-array"),
    P({"a": [{"exists": False}]}, {}, True, id="exists-false-missing"),
    P({"a": [{"exists": False}]}, {"a": "x"}, False, id="exists-false-present"),
    P({"a": [{"exists": False}]}, {"a": {"b": 1}}, True, id="exists-false-object"),
    P({"a": [{"exists": False}, "x"]}, {"a": "x"}, True, id="exists-false-or-value"),
    # several alternatives in one list
    P(
        {"a": ["x", {"prefix": "y"}, {"numeric": [">", 9]}]},
        {"a": 10},
        True,
        id="mixed-list-number",
    ),
    P(
        {"a": ["x", {"prefix": "y"}, {"numeric": [">", 9]}]},
        {"a": "yes"},
        True,
        id="mixed-list-prefix",
    ),
    P(
        {"a": ["x", {"prefix": "y"}, {"numeric": [">", 9]}]},
        {"a": "no"},
        False,
        id="mixed-list-none",
    ),
    # nested objects
    P({"a": {"b": ["x"], "c": ["y"]}}, {"a": {"b": "x", "c": "y"}}, True, id="nested-and"),
    P({"a": {"b": ["x"], "c": ["y"]}}, {"a": {"b": "x", "c": "z"}}, False, id="nested-and-fails"),
    P({"a": {"b": {"c": ["x"]}}}, {"a": {"b": {"c": "x"}}}, True, id="nested-deep"),
    P({"a": {"b": ["x"]}}, {"a": "x"}, False, id="nested-against-string"),
    P({"a": {"b": ["x"]}}, {}, False, id="nested-missing"),
    P({"a": {"b": [{"exists": False}]}}, {}, True, id="nested-missing-exists-false"),
    P({"a": {"b": [{"exists": False}]}}, {"a": {"b": 1}}, False, id="nested-present-exists-false"),
    P({"a": ["x"], "b": [1]}, {"a": "x", "b": 1}, True, id="top-level-and"),
    P({"a": ["x"], "b": [1]}, {"a": "x"}, False, id="top-level-and-missing-key"),
    # arrays in the record
    P({"a": ["x"]}, {"a": ["w", "x"]}, True, id="array-any-element"),
    P({"a": ["x"]}, {"a": ["w", "y"]}, False, id="array-no-element"),
    P({"a": ["x"]}, {"a": [["w"], ["x"]]}, True, id="array-nested-flattened"),
    P({"a": [{"numeric": [">", 5]}]}, {"a": [1, 9]}, True, id="array-numeric"),
    P({"a": [{"anything-but": "x"}]}, {"a": ["x", "y"]}, True, id="array-anything-but-any"),
    P({"a": [{"anything-but": "x"}]}, {"a": ["x"]}, False, id="array-anything-but-only-x"),
    P({"a": [{"exists": False}]}, {"a": []}, True, id="array-empty-exists-false"),
    P({"a": [{"exists": True}]}, {"a": [1]}, True, id="array-exists-true"),
    P({"a": {"b": ["x"]}}, {"a": [{"b": "y"}, {"b": "x"}]}, True, id="array-of-objects"),
    P({"a": {"b": ["x"]}}, {"a": [{"b": "y"}]}, False, id="array-of-objects-none"),
    P(
        {"a": {"b": ["x"], "c": ["y"]}},
        {"a": [{"b": "x", "c": "n"}, {"b": "n", "c": "y"}]},
        False,
        id="array-of-objects-same-element",
    ),
    # $or
    P({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, {"b": "y"}, True, id="or-second-branch"),
    P({"$or": [{"a": ["x"]}, {"b": ["y"]}]}, {"a": "n", "b": "n"}, False, id="or-no-branch"),
    P(
        {"c": ["z"], "$or": [{"a": ["x"]}, {"b": ["y"]}]},
        {"a": "x"},
        False,
        id="or-and-key-missing",
    ),
    P(
        {"c": ["z"], "$or": [{"a": ["x"]}, {"b": ["y"]}]},
        {"a": "x", "c": "z"},
        True,
        id="or-and-key",
    ),
    P(
        {"d": {"$or": [{"a": [{"numeric": [">", 5]}]}, {"b": [{"exists": True}]}]}},
        {"d": {"b": 0}},
        True,
        id="or-nested-level",
    ),
    P(
        {"$or": [{"a": ["x"]}, {"$or": [{"b": ["y"]}, {"c": ["z"]}]}]},
        {"c": "z"},
        True,
        id="or-inside-or",
    ),
    # a missing key fails every matcher except exists:false
    P({"a": ["x"]}, {}, False, id="missing-exact"),
    P({"a": [{"prefix": ""}]}, {}, False, id="missing-prefix"),
    P({"a": [{"suffix": ""}]}, {}, False, id="missing-suffix"),
    P({"a": [{"equals-ignore-case": "x"}]}, {}, False, id="missing-ignore-case"),
    P({"a": [{"wildcard": "*"}]}, {}, False, id="missing-wildcard"),
    P({"a": [{"numeric": [">", 0]}]}, {}, False, id="missing-numeric"),
    P({"a": [{"anything-but": {"prefix": "x"}}]}, {}, False, id="missing-anything-but-prefix"),
]


@pytest.mark.parametrize(("pattern", "record", "expected"), MATCH_CASES)
def test_pattern_matching(pattern: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert compile_pattern(pattern).matches(record) is expected
    assert FilterSet([pattern]).matches(record) is expected


# (pattern, exact message)
INVALID_CASES = [
    P(["a"], "pattern: must be an object, got list", id="not-an-object"),
    P({}, "pattern: empty object matches nothing", id="empty-pattern"),
    P({"a": "x"}, "a: must be a list of values or an object, got str", id="leaf-not-list"),
    P({"a": {"b": 5}}, "a.b: must be a list of values or an object, got int", id="nested-leaf"),
    P({"a": {}}, "a: empty object matches nothing", id="empty-nested-object"),
    P({"a": []}, "a: empty list matches nothing", id="empty-list"),
    P({1: ["x"]}, "pattern: keys must be strings, got 1", id="non-string-key"),
    P(
        {"a": [["x"]]},
        "a: values must be strings, finite numbers, true, false, null or operator "
        "objects, got list",
        id="nested-list-value",
    ),
    P(
        {"a": [float("nan")]},
        "a: values must be strings, finite numbers, true, false, null or "
        "operator objects, got float",
        id="nan-value",
    ),
    P({"a": [{"cidr": "10.0.0.0/8"}]}, "a: unknown operator 'cidr'", id="unknown-operator"),
    P(
        {"a": [{"prefix": "x", "suffix": "y"}]},
        "a: an operator object needs exactly one key, got 2",
        id="two-operators",
    ),
    P({"a": [{}]}, "a: an operator object needs exactly one key, got 0", id="empty-operator"),
    P({"a": [{"prefix": 5}]}, "a: prefix needs a string", id="prefix-not-string"),
    P({"a": [{"suffix": ["x"]}]}, "a: suffix needs a string", id="suffix-not-string"),
    P(
        {"a": [{"equals-ignore-case": None}]},
        "a: equals-ignore-case needs a string",
        id="ignore-case-not-string",
    ),
    P({"a": [{"wildcard": "a**"}]}, "a: wildcard has consecutive '*'", id="wildcard-double-star"),
    P(
        {"a": [{"wildcard": "a\\b"}]},
        "a: wildcard has an escape other than \\* or \\\\",
        id="wildcard-bad-escape",
    ),
    P(
        {"a": [{"wildcard": "a\\"}]},
        "a: wildcard has an escape other than \\* or \\\\",
        id="wildcard-trailing-backslash",
    ),
    P({"a": [{"exists": "yes"}]}, "a: exists needs true or false", id="exists-not-bool"),
    P(
        {"body": {"price": [{"numeric": [">"]}]}},
        "body.price: numeric needs operator/value pairs",
        id="numeric-odd-length",
    ),
    P({"a": [{"numeric": 5}]}, "a: numeric needs operator/value pairs", id="numeric-not-list"),
    P(
        {"a": [{"numeric": [">", 1, "<", 5, "=", 3]}]},
        "a: numeric needs operator/value pairs",
        id="numeric-three-pairs",
    ),
    P(
        {"a": [{"numeric": ["!=", 1]}]},
        "a: numeric operator must be one of = < <= > >=, got '!='",
        id="numeric-bad-operator",
    ),
    P(
        {"a": [{"numeric": [">", "1"]}]},
        "a: numeric value after '>' must be a finite number",
        id="numeric-string-value",
    ),
    P(
        {"a": [{"numeric": [">", True]}]},
        "a: numeric value after '>' must be a finite number",
        id="numeric-bool-value",
    ),
    P(
        {"a": [{"numeric": ["<", 5, ">", 1]}]},
        "a: numeric range must be > or >= followed by < or <=",
        id="numeric-range-order",
    ),
    P(
        {"a": [{"numeric": ["=", 5, "<", 9]}]},
        "a: numeric range must be > or >= followed by < or <=",
        id="numeric-range-with-eq",
    ),
    P(
        {"a": [{"numeric": [">", 5, "<", 5]}]},
        "a: numeric range lower bound must be below the upper bound",
        id="numeric-empty-range",
    ),
    P(
        {"a": [{"anything-but": [1, "x"]}]},
        "a: anything-but needs a string, a number, or a non-empty "
        "list of only strings or only numbers",
        id="anything-but-mixed",
    ),
    P(
        {"a": [{"anything-but": []}]},
        "a: anything-but needs a string, a number, or a non-empty "
        "list of only strings or only numbers",
        id="anything-but-empty",
    ),
    P(
        {"a": [{"anything-but": None}]},
        "a: anything-but needs a string, a number, or a non-empty "
        "list of only strings or only numbers",
        id="anything-but-null",
    ),
    P(
        {"a": [{"anything-but": {"wildcard": "x*"}}]},
        "a: anything-but object must be {prefix|suffix: string}",
        id="anything-but-wildcard",
    ),
    P(
        {"a": [{"anything-but": {"prefix": ""}}]},
        "a: anything-but object must be {prefix|suffix: string}",
        id="anything-but-empty-prefix",
    ),
    P({"$or": []}, "$or: needs a list of at least two pattern objects", id="or-empty"),
    P(
        {"$or": [{"a": ["x"]}]},
        "$or: needs a list of at least two pattern objects",
        id="or-single",
    ),
    P(
        {"$or": {"a": ["x"]}},
        "$or: needs a list of at least two pattern objects",
        id="or-not-list",
    ),
    P(
        {"$or": [{"a": ["x"]}, "b"]},
        "$or[1]: must be an object, got str",
        id="or-branch-not-object",
    ),
    P(
        {"d": {"$or": [{"a": ["x"]}, {"b": [{"prefix": 1}]}]}},
        "d.$or[1].b: prefix needs a string",
        id="or-nested-path",
    ),
    P(
        {"a": ["x" * MAX_PATTERN_CHARS]},
        f"pattern: {MAX_PATTERN_CHARS + 10} characters as JSON, at most {MAX_PATTERN_CHARS}",
        id="too-long",
    ),
]


@pytest.mark.parametrize(("pattern", "message"), INVALID_CASES)
def test_invalid_patterns(pattern: Any, message: str) -> None:
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_pattern_of_exactly_the_maximum_length_compiles() -> None:
    value = "x" * (MAX_PATTERN_CHARS - len('{"a":[""]}'))
    assert compile_pattern({"a": [value]}).matches({"a": value})


def test_compile_does_not_keep_a_reference_to_mutable_state() -> None:
    pattern = {"a": ["x"], "b": ["z"]}
    compiled = compile_pattern(pattern)
    filters = FilterSet([pattern])
    pattern["a"].append("y")
    assert not compiled.matches({"a": "y", "b": "z"})
    assert not filters.without_key("b").matches({"a": "y"})


def test_pattern_keys_include_top_level_or() -> None:
    pattern = compile_pattern({"a": ["x"], "$or": [{"b": ["y"]}, {"c": {"d": ["z"]}}]})
    assert pattern.keys == {"a", "b", "c"}


# ---------------------------------------------------------------- FilterSet


def test_empty_filter_set_passes_everything() -> None:
    filters = FilterSet([])
    assert filters.matches({})
    assert filters.matches({"a": 1})
    assert not filters.uses_key("a")


@pytest.mark.parametrize(
    ("record", "expected"),
    [({"a": "x"}, True), ({"b": 2}, True), ({"a": "y", "b": 1}, False), ({}, False)],
)
def test_filter_set_passes_if_any_pattern_matches(record: dict[str, Any], expected: bool) -> None:
    filters = FilterSet([{"a": ["x"]}, {"b": [{"numeric": [">", 1]}]}])
    assert filters.matches(record) is expected


def test_filter_set_names_the_bad_pattern() -> None:
    with pytest.raises(ValueError, match=r"^filters\[1\]: a\.b: unknown operator 'regex'$"):
        FilterSet([{"a": ["x"]}, {"a": {"b": [{"regex": "."}]}}])


def test_filter_set_allows_at_most_five_patterns() -> None:
    FilterSet([{"a": [i]} for i in range(5)])
    with pytest.raises(ValueError, match=r"^filters: at most 5 patterns, got 6$"):
        FilterSet([{"a": [i]} for i in range(6)])


@pytest.mark.parametrize(
    ("patterns", "key", "expected"),
    [
        ([{"data": {"x": ["y"]}}], "data", True),
        ([{"partitionKey": ["1"]}], "data", False),
        ([{"partitionKey": ["1"]}, {"data": [{"exists": True}]}], "data", True),
        ([{"$or": [{"data": {"x": ["y"]}}, {"partitionKey": ["1"]}]}], "data", True),
        ([{"meta": {"data": ["x"]}}], "data", False),
    ],
)
def test_uses_key(patterns: list[dict[str, Any]], key: str, expected: bool) -> None:
    assert FilterSet(patterns).uses_key(key) is expected


@pytest.mark.parametrize(
    ("patterns", "record", "expected"),
    [
        ([{"value": {"x": ["y"]}, "topic": ["t"]}], {"topic": "t"}, True),
        ([{"value": {"x": ["y"]}, "topic": ["t"]}], {"topic": "u"}, False),
        ([{"value": {"x": ["y"]}}], {"topic": "u"}, True),
        ([{"topic": ["t"]}, {"value": ["v"]}], {"topic": "u"}, True),
        (
            [{"$or": [{"value": ["v"]}, {"topic": ["t"]}], "partition": [0]}],
            {"partition": 1},
            False,
        ),
        ([{"$or": [{"value": ["v"]}, {"topic": ["t"]}], "partition": [0]}], {"partition": 0}, True),
        ([{"meta": {"value": ["v"]}}], {"meta": {}}, False),
    ],
)
def test_without_key_ignores_conditions_on_that_key(
    patterns: list[dict[str, Any]], record: dict[str, Any], expected: bool
) -> None:
    filters = FilterSet(patterns)
    assert filters.without_key("value").matches(record) is expected
    assert filters.without_key("value") is filters.without_key("value")


# ---------------------------------------------------------------- views (AWS-shaped records)

SQS_RECORD: dict[str, Any] = {
    "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
    "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
    "body": '{"orderId": "o-1001", "status": "NEW"}',
    "attributes": {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1545082649183",
        "SenderId": "AIDAIENQZJOLO23YVJ4VO",
        "ApproximateFirstReceiveTimestamp": "1545082649185",
    },
    "messageAttributes": {
        "Priority": {
            "stringValue": "high",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
    },
    "md5OfBody": "618cf1332890cd4dc48bb01ee71782c2",
    "eventSource": "aws:sqs",
    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:my-queue",
    "awsRegion": "us-east-1",
}

KINESIS_RECORD: dict[str, Any] = {
    "kinesis": {
        "kinesisSchemaVersion": "1.0",
        "partitionKey": "1",
        "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
        "data": "eyJvcmRlciI6IHsidHlwZSI6ICJidXkiLCAicXR5IjogNX19",
        "approximateArrivalTimestamp": 1545084650.987,
    },
    "eventSource": "aws:kinesis",
    "eventVersion": "1.0",
    "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
    "eventName": "aws:kinesis:record",
    "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
    "awsRegion": "us-east-1",
    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/lambda-stream",
}

KAFKA_RECORD: dict[str, Any] = {
    "topic": "mytopic",
    "partition": 0,
    "offset": 15,
    "timestamp": 1545084650987,
    "timestampType": "CREATE_TIME",
    "key": "b3JkZXItMTAwMQ==",
    "value": "eyJkZXZpY2VfSUQiOiAiQUItMTIzIiwgInRlbXAiOiAyMS41fQ==",
    "headers": [{"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]}],
}

RMQ_MESSAGE: dict[str, Any] = {
    "basicProperties": {
        "contentType": "text/plain",
        "contentEncoding": None,
        "headers": {"header1": {"bytes": [118, 97, 108, 117, 101, 49]}, "numberInHeader": 10},
        "deliveryMode": 1,
        "priority": 34,
        "expiration": "60000",
        "timestamp": "Jan 1, 1970, 12:33:41 AM",
        "userId": "AIDACKCEVSQ6C2EXAMPLE",
        "bodySize": 80,
    },
    "redelivered": False,
    "data": "eyJ0aW1lb3V0IjowLCJkYXRhIjoiQ1pybWYwR3c4T3Y0YnFMUXhENEUifQ==",
}


def with_(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(record), **changes}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"orderId": "o-1001", "status": "NEW"}', {"orderId": "o-1001", "status": "NEW"}),
        (' [1, {"a": 2}]', [1, {"a": 2}]),
        ("plain text", "plain text"),
        ("42", "42"),
        ('"quoted"', '"quoted"'),
        ("{not json", "{not json"),
        ('{"a": NaN}', '{"a": NaN}'),
        ("", ""),
    ],
)
def test_sqs_view_parses_json_object_or_array_bodies(body: str, expected: Any) -> None:
    record = with_(SQS_RECORD, body=body)
    original = copy.deepcopy(record)
    view = sqs_view(record)
    assert view["body"] == expected
    assert view["messageId"] == SQS_RECORD["messageId"]
    assert record == original


@pytest.mark.parametrize(
    ("pattern", "body", "expected"),
    [
        ({"body": {"status": ["NEW"]}}, '{"status": "NEW"}', True),
        ({"body": {"status": ["NEW"]}}, '{"status": "OLD"}', False),
        ({"body": {"status": ["NEW"]}}, "status NEW", False),
        ({"body": [{"prefix": "status"}]}, "status NEW", True),
        ({"body": [{"prefix": "{"}]}, '{"status": "NEW"}', False),
        ({"attributes": {"ApproximateReceiveCount": ["1"]}}, "anything", True),
        ({"messageAttributes": {"Priority": {"stringValue": ["high"]}}}, "x", True),
    ],
)
def test_sqs_filtering_end_to_end(pattern: dict[str, Any], body: str, expected: bool) -> None:
    assert FilterSet([pattern]).matches(sqs_view(with_(SQS_RECORD, body=body))) is expected


def test_kinesis_view_flattens_metadata_and_decodes_data() -> None:
    original = copy.deepcopy(KINESIS_RECORD)
    view = kinesis_view(KINESIS_RECORD)
    assert view is not None
    assert view["data"] == {"order": {"type": "buy", "qty": 5}}
    assert view["partitionKey"] == "1"
    assert view["approximateArrivalTimestamp"] == 1545084650.987
    assert view["eventSource"] == "aws:kinesis"
    assert view["awsRegion"] == "us-east-1"
    assert "kinesis" not in view
    assert KINESIS_RECORD == original
    filters = FilterSet(
        [{"partitionKey": ["1"], "data": {"order": {"qty": [{"numeric": [">", 4]}]}}}]
    )
    assert filters.matches(view)


def _kinesis_with_data(data: str) -> dict[str, Any]:
    record = copy.deepcopy(KINESIS_RECORD)
    record["kinesis"]["data"] = data
    return record


@pytest.mark.parametrize(
    ("data", "patterns", "outcome"),
    [
        (b64("Hello, this is a test."), None, "metadata"),
        (b64("Hello, this is a test."), [{"partitionKey": ["1"]}], "metadata"),
        (b64("Hello, this is a test."), [{"data": [{"exists": False}]}], "dropped"),
        (
            b64("Hello, this is a test."),
            [{"$or": [{"data": {"a": [1]}}, {"eventID": ["x"]}]}],
            "dropped",
        ),
        (b64("42"), [{"data": ["42"]}], "dropped"),
        (b64(b"\xff\xfe{}"), [{"data": {"a": [1]}}], "dropped"),
        ("not base64!", [{"data": {"a": [1]}}], "dropped"),
        (b64('{"a": 1}'), [{"data": {"a": [1]}}], "json"),
    ],
)
def test_kinesis_view_non_json_data(data: str, patterns: list[Any] | None, outcome: str) -> None:
    filters = None if patterns is None else FilterSet(patterns)
    view = kinesis_view(_kinesis_with_data(data), filters)
    if outcome == "dropped":
        assert view is None
    elif outcome == "metadata":
        assert view is not None
        assert "data" not in view
        assert view["partitionKey"] == "1"
    else:
        assert view is not None
        assert view["data"] == {"a": 1}


def test_kafka_view_decodes_key_and_value() -> None:
    original = copy.deepcopy(KAFKA_RECORD)
    view = kafka_view(KAFKA_RECORD)
    assert view["value"] == {"device_ID": "AB-123", "temp": 21.5}
    assert view["key"] == "order-1001"
    assert view["headers"] == KAFKA_RECORD["headers"]
    assert view["topic"] == "mytopic"
    assert KAFKA_RECORD == original
    filters = FilterSet(
        [{"value": {"temp": [{"numeric": [">", 20]}]}, "key": [{"prefix": "order-"}]}]
    )
    assert filters.matches(view)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"value": b64("plain string value")}, "value", "plain string value"),
        ({"value": b64("42")}, "value", "42"),
        ({"value": b64("[1, 2]")}, "value", [1, 2]),
        ({"value": None}, "value", None),
        ({"key": None}, "key", None),
    ],
)
def test_kafka_view_payload_forms(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert kafka_view(with_(KAFKA_RECORD, **changes))[field] == expected


@pytest.mark.parametrize("value", [b64(b"\xff\xfe\x00"), "%%% not base64"])
def test_kafka_view_removes_undecodable_value_and_matches_metadata(value: str) -> None:
    view = kafka_view(with_(KAFKA_RECORD, value=value))
    assert "value" not in view
    assert view["key"] == "order-1001"
    filters = FilterSet([{"topic": ["mytopic"], "value": {"device_ID": ["AB-123"]}}])
    assert not filters.matches(view)
    assert filters.without_key("value").matches(view)


def test_kafka_view_without_key_field() -> None:
    record = copy.deepcopy(KAFKA_RECORD)
    del record["key"]
    assert "key" not in kafka_view(record)


def test_rmq_view_decodes_data() -> None:
    original = copy.deepcopy(RMQ_MESSAGE)
    view = rmq_view(RMQ_MESSAGE)
    assert view["data"] == {"timeout": 0, "data": "CZrmf0Gw8Ov4bqLQxD4E"}
    assert view["basicProperties"] == RMQ_MESSAGE["basicProperties"]
    assert RMQ_MESSAGE == original
    filters = FilterSet([{"data": {"timeout": [0]}, "basicProperties": {"priority": [34]}}])
    assert filters.matches(view)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b64("plain body"), "plain body"),
        (b64(json.dumps({"n": 1})), {"n": 1}),
        (b64(b"\x80abc"), None),
    ],
)
def test_rmq_view_payload_forms(data: str, expected: Any) -> None:
    view = rmq_view(with_(RMQ_MESSAGE, data=data))
    if expected is None:
        assert "data" not in view
    else:
        assert view["data"] == expected
