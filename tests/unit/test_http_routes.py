"""Route parsing and the most-specific-match rules of API Gateway HTTP APIs."""

from __future__ import annotations

import pytest

from connectors.http_routes import RouteTable, parse_route
from eventhub.config.errors import ConfigError
from eventhub.config.loader import parse_config


def table(*routes: str) -> RouteTable[str]:
    return RouteTable((parse_route(route), route) for route in routes)


def target(tbl: RouteTable[str], method: str, path: str) -> str | None:
    found = tbl.match(method, path)
    return None if found is None else found.target


def test_literal_route_matches_only_its_method_and_path() -> None:
    tbl = table("GET /orders")
    assert target(tbl, "GET", "/orders") == "GET /orders"
    assert target(tbl, "POST", "/orders") is None
    assert target(tbl, "GET", "/orders/") is None
    assert target(tbl, "GET", "/orders/1") is None


def test_parameters_are_decoded_and_never_empty() -> None:
    tbl = table("POST /orders/{id}")
    found = tbl.match("POST", "/orders/a%20b%2Fc")
    assert found is not None
    assert found.params == {"id": "a b/c"}
    assert found.spec.route_key == "POST /orders/{id}"
    assert tbl.match("POST", "/orders/") is None
    assert tbl.match("POST", "/orders/1/2") is None


def test_greedy_parameter_takes_the_rest_but_not_nothing() -> None:
    tbl = table("GET /files/{path+}")
    found = tbl.match("GET", "/files/a/b%20c/d.txt")
    assert found is not None
    assert found.params == {"path": "a/b c/d.txt"}
    assert tbl.match("GET", "/files") is None
    assert tbl.match("GET", "/files/") is None


def test_proxy_does_not_match_the_root_and_default_does() -> None:
    tbl = table("ANY /{proxy+}")
    assert tbl.match("GET", "/") is None
    assert target(tbl, "DELETE", "/x/y") == "ANY /{proxy+}"
    with_default = table("ANY /{proxy+}", "$default")
    found = with_default.match("GET", "/")
    assert found is not None
    assert found.target == "$default"
    assert found.spec.route_key == "$default"
    assert found.params is None


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/pets/dog", "GET /pets/dog"),
        ("POST", "/pets/dog", "ANY /pets/dog"),
        ("GET", "/pets/cat", "GET /pets/{id}"),
        ("PUT", "/pets/cat", "ANY /pets/{id}"),
        ("GET", "/pets/cat/toys", "GET /pets/{id}/toys"),
        ("GET", "/pets/cat/food", "ANY /{proxy+}"),
        ("GET", "/other", "ANY /{proxy+}"),
        ("GET", "/", "$default"),
    ],
)
def test_most_specific_route_wins(method: str, path: str, expected: str) -> None:
    tbl = table(
        "$default",
        "ANY /{proxy+}",
        "ANY /pets/{id}",
        "GET /pets/{id}",
        "GET /pets/{id}/toys",
        "ANY /pets/dog",
        "GET /pets/dog",
    )
    assert target(tbl, method, path) == expected


def test_literal_segments_win_from_the_left() -> None:
    tbl = table("GET /{a}/b", "GET /a/{b}")
    assert target(tbl, "GET", "/a/b") == "GET /a/{b}"
    assert target(tbl, "GET", "/x/b") == "GET /{a}/b"


def test_any_matches_only_standard_methods() -> None:
    tbl = table("ANY /x", "$default")
    assert target(tbl, "PATCH", "/x") == "ANY /x"
    assert target(tbl, "BREW", "/x") is None
    assert target(tbl, "BREW", "/y") is None


def test_later_registration_of_the_same_shape_wins() -> None:
    tbl = RouteTable([(parse_route("GET /a/{x}"), "old"), (parse_route("GET /a/{y}"), "new")])
    assert len(tbl) == 1
    found = tbl.match("GET", "/a/1")
    assert found is not None
    assert found.target == "new"
    assert found.params == {"y": "1"}


def test_not_a_path() -> None:
    assert table("ANY /{proxy+}").match("OPTIONS", "*") is None


@pytest.mark.parametrize(
    "route",
    ["GET orders", "FETCH /x", "GET /a/{b+}/c", "GET /a/x{b}", "GET"],
)
def test_bad_routes_are_rejected(route: str) -> None:
    with pytest.raises(ValueError, match="route"):
        parse_route(route)


def _config(routes: dict[str, str]) -> str:
    sources = "".join(
        f'  {name}: {{type: http, route: "{route}", function: f}}\n'
        for name, route in routes.items()
    )
    return f"version: 1\nfunctions:\n  f: {{handler: m:h}}\nsources:\n{sources}"


def test_conflicting_routes_are_a_config_error_naming_the_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_config({"a": "GET /x/{id}", "b": "GET /x/{other}"}), {})
    text = str(info.value)
    assert "sources.b.route" in text
    assert "conflicts with the route of source 'a'" in text


def test_same_path_with_any_and_a_method_is_not_a_conflict() -> None:
    config = parse_config(_config({"a": "ANY /x", "b": "GET /x", "c": "$default"}), {})
    assert set(config.sources) == {"a", "b", "c"}
