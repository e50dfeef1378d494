"""Lambda event filtering (FilterCriteria): compiled EventBridge-style patterns and record views.

A pattern is validated and compiled once into a tree of closures; matching a record only looks
at the keys the pattern names. Semantics follow EventBridge (aws/event-ruler) where Lambda's
documentation is silent:

* Leaf values are lists: a record value matches if it equals any listed value or satisfies any
  listed operator. Keys of one object are ANDed; ``"$or": [p1, p2, ...]`` (two or more objects)
  at any object level ORs whole sub-patterns.
* Numbers match by JSON value, so ``300`` matches ``300.0``. Lambda's docs say numbers compare
  by their string form; event-ruler compares by value, and the record's original text is gone
  once its JSON is parsed, so we choose value. ``true``/``false`` never equal ``1``/``0``.
* An array in the record matches if any element matches (nested arrays are flattened). A nested
  pattern object matches an object, or any object in an array; against a string or number it
  fails, which is Lambda's "body format differs from the pattern" rule for SQS.
* A key missing from the record fails every matcher except ``{"exists": false}``. ``exists``
  sees leaf values only: ``true`` fails and ``false`` matches when the value is an object or [].
* ``anything-but`` matches any present leaf value (null and booleans too) other than the listed
  strings or numbers, or any value that is not a string with the given prefix/suffix.

The per-source record views live in ``eventhub.mapping.filter_views``.
"""

from __future__ import annotations

import copy
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, NamedTuple

MAX_PATTERNS: Final = 5
MAX_PATTERN_CHARS: Final = 4096
OR_KEY: Final = "$or"

Record = Mapping[str, Any]
ScalarTest = Callable[[Any], bool]
ObjectTest = Callable[[Record], bool]

_MISSING: Final = object()
_NOT_JSON: Final = object()
_EMPTY: Final[Mapping[str, Any]] = {}
# Kind of a record value, indexing a leaf's per-kind tests: string, number, null/boolean, other.
_KINDS: Final[dict[type, int]] = {str: 0, int: 1, float: 1, bool: 2, type(None): 2}
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_WILDCARD_TOKEN: Final = re.compile(r"\\[*\\]|\\|\*\*|\*|[^\\*]+")


class PatternError(ValueError):
    """An invalid event pattern; the message starts with the path of the offending part."""


def _always(_: Any) -> bool:
    return True


def _never(_: Any) -> bool:
    return False


class _Alt(NamedTuple):
    """One leaf alternative, split by the kind of record value it can match (None: never)."""

    on_str: ScalarTest | None = None
    on_num: ScalarTest | None = None
    on_other: ScalarTest | None = None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _as_written(value: Any) -> tuple[type, Any]:
    """A number as AWS compares it for equality, by how it is written: ``300`` and
    ``300.0`` differ. (Decimals are compared by value: ``300.0`` equals ``3.0e2``.)"""
    return (type(value), value)


def _wildcard_test(text: str, path: str) -> ScalarTest:
    literals = [""]  # the literal runs between unescaped stars
    for piece in _WILDCARD_TOKEN.findall(text):
        if piece == "*":
            literals.append("")
        elif piece in ("\\", "**"):
            problem = "consecutive '*'" if piece == "**" else "an escape other than \\* or \\\\"
            raise PatternError(f"{path}: wildcard has {problem}")
        else:
            literals[-1] += piece[1] if piece[0] == "\\" else piece
    if len(literals) == 1:
        exact = literals[0]
        return lambda v: v == exact
    fullmatch = re.compile(".*".join(map(re.escape, literals)), re.DOTALL).fullmatch
    return lambda v: fullmatch(v) is not None


def _ignore_case_test(text: str, _path: str) -> ScalarTest:
    lowered = text.lower()
    return lambda v: v.lower() == lowered


_STRING_TESTS: Final[dict[str, Callable[[str, str], ScalarTest]]] = {
    "prefix": lambda prefix, _: lambda v: v.startswith(prefix),
    "suffix": lambda suffix, _: lambda v: v.endswith(suffix),
    "equals-ignore-case": _ignore_case_test,
    "wildcard": _wildcard_test,
}


def _anything_but(arg: Any, path: str) -> _Alt:
    if isinstance(arg, Mapping):
        op, affix = next(iter(arg.items()), (None, None))
        if len(arg) != 1 or op not in ("prefix", "suffix") or not affix or type(affix) is not str:
            raise PatternError(f"{path}: anything-but object must be {{prefix|suffix: string}}")
        excluded = _STRING_TESTS[op](affix, path)
        return _Alt(lambda v: not excluded(v), _always, _always)
    values = arg if isinstance(arg, list) else [arg]
    if values and all(type(v) is str for v in values):
        strings = frozenset(values)
        return _Alt(lambda v: v not in strings, _always, _always)
    if values and all(_is_number(v) for v in values):
        numbers = frozenset(map(_as_written, values))
        return _Alt(_always, lambda v: _as_written(v) not in numbers, _always)
    raise PatternError(
        f"{path}: anything-but needs a string, a number, or a non-empty list of "
        "only strings or only numbers"
    )


def _numeric(arg: Any, path: str) -> _Alt:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise PatternError(f"{path}: numeric needs operator/value pairs")
    for op, value in zip(arg[0::2], arg[1::2], strict=True):
        if not isinstance(op, str) or op not in _COMPARE:
            raise PatternError(f"{path}: numeric operator must be one of = < <= > >=, got {op!r}")
        if not _is_number(value):
            raise PatternError(f"{path}: numeric value after {op!r} must be a finite number")
    if len(arg) == 2:
        compare, bound = _COMPARE[arg[0]], arg[1]
        return _Alt(on_num=lambda v: compare(v, bound))
    low_op, low, high_op, high = arg
    if low_op not in (">", ">=") or high_op not in ("<", "<="):
        raise PatternError(f"{path}: numeric range must be > or >= followed by < or <=")
    if not low < high:
        raise PatternError(f"{path}: numeric range lower bound must be below the upper bound")
    above, below = _COMPARE[low_op], _COMPARE[high_op]
    return _Alt(on_num=lambda v: above(v, low) and below(v, high))


def _operator(spec: Mapping[Any, Any], path: str) -> _Alt | bool:
    """An operator object as an alternative, or the bool of an ``exists`` operator."""
    if len(spec) != 1:
        raise PatternError(f"{path}: an operator object needs exactly one key, got {len(spec)}")
    op, arg = next(iter(spec.items()))
    if op == "exists":
        if not isinstance(arg, bool):
            raise PatternError(f"{path}: exists needs true or false")
        return arg
    if op in _STRING_TESTS:
        if not isinstance(arg, str):
            raise PatternError(f"{path}: {op} needs a string")
        return _Alt(on_str=_STRING_TESTS[op](arg, path))
    if op == "anything-but":
        return _anything_but(arg, path)
    if op == "numeric":
        return _numeric(arg, path)
    raise PatternError(f"{path}: unknown operator {op!r}")


def _exact(values: list[Any]) -> _Alt:
    strings = frozenset(v for v in values if type(v) is str)
    numbers = frozenset(_as_written(v) for v in values if _is_number(v))
    others = frozenset(v for v in values if v is None or type(v) is bool)
    return _Alt(
        strings.__contains__ if strings else None,
        (lambda v: _as_written(v) in numbers) if numbers else None,
        others.__contains__ if others else None,
    )


def _any_of(tests: Iterable[ScalarTest | None]) -> ScalarTest:
    present = [t for t in tests if t is not None]
    if not present or _always in present:
        return _always if present else _never
    if len(present) == 1:
        return present[0]
    chain = tuple(present)

    def any_test(value: Any) -> bool:
        for test in chain:
            if test(value):
                return True
        return False

    return any_test


def _split_leaf(values: list[Any], path: str) -> tuple[list[_Alt], set[bool]]:
    alts: list[_Alt] = []
    exists: set[bool] = set()
    exact: list[Any] = []
    for value in values:
        if isinstance(value, Mapping):
            parsed = _operator(value, path)
            if isinstance(parsed, bool):
                exists.add(parsed)
            else:
                alts.append(parsed)
        elif value is None or type(value) in (str, bool) or _is_number(value):
            exact.append(value)
        else:
            raise PatternError(
                f"{path}: values must be strings, finite numbers, true, false, null "
                f"or operator objects, got {type(value).__name__}"
            )
    if exact:
        alts.append(_exact(exact))
    return alts, exists


def _leaves(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _leaves(item)
        elif not isinstance(item, Mapping):
            yield item


def _compile_leaf(values: list[Any], path: str) -> ScalarTest:
    if not values:
        raise PatternError(f"{path}: empty list matches nothing")
    alts, exists = _split_leaf(values, path)
    by_kind = (
        _any_of(a.on_str for a in alts),
        _any_of(a.on_num for a in alts),
        _any_of(a.on_other for a in alts),
        _never,
    )
    if_absent, if_present = False in exists, True in exists

    def scalar(value: Any) -> bool:
        return if_present or by_kind[_KINDS.get(type(value), 3)](value)

    def field(value: Any) -> bool:
        kind = _KINDS.get(type(value))
        if kind is not None:  # the hot path: a plain JSON scalar
            return if_present or by_kind[kind](value)
        return _match_non_scalar(value, scalar, if_absent)

    return field


def _match_non_scalar(value: Any, scalar: ScalarTest, if_absent: bool) -> bool:
    """Leaf matching of a missing key, an array, an object or a value of a non-JSON type."""
    if value is _MISSING or isinstance(value, Mapping):
        return if_absent
    if isinstance(value, (list, tuple)):
        seen = False
        for item in _leaves(value):
            if scalar(item):
                return True
            seen = True
        return if_absent and not seen
    return scalar(value)


def _nested_field(sub: ObjectTest) -> ScalarTest:
    if_absent = sub(_EMPTY)

    def field(value: Any) -> bool:
        if type(value) is dict:
            return sub(value)
        if value is _MISSING:
            return if_absent
        if isinstance(value, (list, tuple)):
            return any(sub(item) for item in value if isinstance(item, Mapping))
        return isinstance(value, Mapping) and sub(value)

    return field


def _compile_or(branches: Any, path: str, skip: str | None) -> tuple[ObjectTest, ...] | None:
    """The branches of one ``$or``, or None when a branch is left without conditions."""
    if not isinstance(branches, list) or len(branches) < 2:
        raise PatternError(f"{path}: needs a list of at least two pattern objects")
    tests = tuple(_compile_object(b, f"{path}[{i}]", skip) for i, b in enumerate(branches))
    return None if _always in tests else tests


def _compile_field(spec: Any, path: str) -> ScalarTest:
    if isinstance(spec, Mapping):
        return _nested_field(_compile_object(spec, path))
    if isinstance(spec, list):
        return _compile_leaf(spec, path)
    raise PatternError(f"{path}: must be a list of values or an object, got {type(spec).__name__}")


def _compile_object(pattern: Any, path: str, skip: str | None = None) -> ObjectTest:
    """Compile one pattern object; ``skip`` names a key of this level to validate but ignore."""
    where = path or "pattern"
    if not isinstance(pattern, Mapping):
        raise PatternError(f"{where}: must be an object, got {type(pattern).__name__}")
    if not pattern:
        raise PatternError(f"{where}: empty object matches nothing")
    fields: list[tuple[str, ScalarTest]] = []
    ors: list[tuple[ObjectTest, ...]] = []
    for key, spec in pattern.items():
        if not isinstance(key, str):
            raise PatternError(f"{where}: keys must be strings, got {key!r}")
        sub_path = f"{path}.{key}" if path else key
        if key == OR_KEY:
            group = _compile_or(spec, sub_path, skip)
            if group is not None:
                ors.append(group)
        else:
            test = _compile_field(spec, sub_path)
            if key != skip:
                fields.append((key, test))
    return _all_of(fields, ors)


def _all_of(fields: list[tuple[str, ScalarTest]], ors: list[tuple[ObjectTest, ...]]) -> ObjectTest:
    if not fields and not ors:
        return _always
    if len(fields) == 1 and not ors:
        key, test = fields[0]
        return lambda obj: test(obj.get(key, _MISSING))
    field_tests, or_groups = tuple(fields), tuple(ors)

    def every(obj: Mapping[str, Any]) -> bool:
        get = obj.get
        for key, test in field_tests:
            if not test(get(key, _MISSING)):
                return False
        for group in or_groups:
            for branch in group:
                if branch(obj):
                    break
            else:
                return False
        return True

    return every


def _top_keys(pattern: Mapping[str, Any]) -> frozenset[str]:
    keys = {k for k in pattern if k != OR_KEY}
    for branch in pattern.get(OR_KEY, ()):
        keys |= _top_keys(branch)
    return frozenset(keys)


class Pattern:
    """One compiled, validated event pattern; immutable and safe to share between tasks.

    ``source`` is a private copy of the pattern as given; ``keys`` the top-level record keys
    it has conditions on (including those inside a top-level ``$or``).
    """

    __slots__ = ("_test", "keys", "source")

    def __init__(self, test: ObjectTest, source: Mapping[str, Any]) -> None:
        self._test = test
        self.source = source
        self.keys: frozenset[str] = _top_keys(source)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """True if ``record`` (a source view, see the ``*_view`` helpers) satisfies the pattern."""
        return self._test(record)


def compile_pattern(pattern: Mapping[str, Any]) -> Pattern:
    """Validate one event pattern and compile it.

    Raises ``PatternError`` (a ``ValueError``) whose message starts with the offending path
    (``"body.price: numeric needs operator/value pairs"``) when the pattern is not an object, a
    leaf is not a list, an operator is unknown or malformed, ``$or`` has fewer than two objects,
    an object or list is empty, or the compact JSON form exceeds 4,096 characters.
    """
    test = _compile_object(pattern, "")
    try:
        size = len(json.dumps(pattern, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise PatternError(f"pattern: not JSON-serialisable ({exc})") from None
    if size > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern: {size} characters as JSON, at most {MAX_PATTERN_CHARS}")
    return Pattern(test, copy.deepcopy(pattern))


class FilterSet:
    """The FilterCriteria of one mapping: a record passes if any pattern matches.

    An empty set passes every record. Patterns are compiled once by the constructor, which
    raises ``PatternError`` (``"filters[2]: body.x: ..."``) for an invalid pattern or for more
    than ``MAX_PATTERNS`` patterns.
    """

    __slots__ = ("_ignoring", "_tests", "patterns")

    def __init__(self, patterns: Iterable[Mapping[str, Any]] = ()) -> None:
        given = list(patterns)
        if len(given) > MAX_PATTERNS:
            raise PatternError(f"filters: at most {MAX_PATTERNS} patterns, got {len(given)}")
        compiled: list[Pattern] = []
        for index, pattern in enumerate(given):
            try:
                compiled.append(compile_pattern(pattern))
            except PatternError as exc:
                raise PatternError(f"filters[{index}]: {exc}") from None
        self.patterns: tuple[Pattern, ...] = tuple(compiled)
        self._tests: tuple[ObjectTest, ...] = tuple(p._test for p in compiled)
        self._ignoring: dict[str, FilterSet] = {}

    def matches(self, record: Mapping[str, Any]) -> bool:
        """True if the set is empty or any pattern matches ``record`` (a source view)."""
        tests = self._tests
        if not tests:
            return True
        for test in tests:
            if test(record):
                return True
        return False

    def uses_key(self, name: str) -> bool:
        """True if any pattern has a condition on the top-level record key ``name``."""
        return any(name in p.keys for p in self.patterns)

    def shapes(self, name: str) -> frozenset[str]:
        """How the patterns constrain the top-level key ``name``: ``object`` (a nested
        pattern: the value must be a JSON object) and/or ``leaf`` (a list of values)."""
        return frozenset(
            "object" if isinstance(p.source[name], Mapping) else "leaf"
            for p in self.patterns
            if name in p.source
        )

    def without_key(self, name: str) -> FilterSet:
        """This set with every top-level condition on ``name`` ignored (built once per name).

        For metadata-only matching of Kafka/MQ records whose payload is not UTF-8: a pattern
        that only constrains ``name`` then passes every record. The result has no ``patterns``.
        """
        derived = self._ignoring.get(name)
        if derived is None:
            derived = FilterSet()
            tests = tuple(_compile_object(p.source, "", name) for p in self.patterns)
            derived._tests = () if _always in tests else tests
            self._ignoring[name] = derived
        return derived
