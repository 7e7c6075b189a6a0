"""The API's route table, read from its own OpenAPI document (the app factory, no server): every route under /api
names the roles that may call it, and every JSON route documents its answer with a typed schema — so a route added
without either fails here, before a client or the fuzz test meets it."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.api import create_app
from edge.auth import Role
from edge.config import load_config
from edge.gateway import Gateway

OPEN = {("get", "/api/health"), ("post", "/api/session"), ("delete", "/api/session")}  # monitoring, signing in/out
NOT_JSON = {  # (method, path): the media type it answers with instead
    ("get", "/api/rules/source"): "text/plain",
    ("get", "/api/reports/{day}/{kind}.csv"): "text/plain",
    ("get", "/api/stream"): None,  # server-sent events: an endless stream, no schema
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    db = tmp_path_factory.mktemp("api") / "gateway.db"
    app = create_app(Gateway(load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(db)}})))
    try:
        yield app.openapi()
    finally:
        app.state.auth.close()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def untyped(schema: dict[str, Any], components: dict[str, Any]) -> str | None:
    """Where a response schema says nothing about its content (`{}`, a bare object), or None when it is typed."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return None if name in components else f"a reference to a missing schema {name}"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return next((u for s in schema[key] if (u := untyped(s, components))), None)
    kind = schema.get("type")
    if kind == "array":
        return untyped(schema.get("items", {}), components)
    if kind == "object" and not schema.get("properties"):
        extra = schema.get("additionalProperties")
        return untyped(extra, components) if isinstance(extra, dict) else "an object with no properties"
    return None if kind else "no type"


def test_every_route_under_api_names_its_roles(spec: dict[str, Any]) -> None:
    roles = {r.value for r in Role}
    for method, path, op in operations(spec):
        assert path.startswith("/api/"), f"{method.upper()} {path}: the API's routes live under /api"
        assert "x-roles" in op, f"{method.upper()} {path} does not name its roles (needs(...))"
        named = op["x-roles"]
        assert set(named) <= roles and named == sorted(named), f"{method.upper()} {path}: x-roles {named}"
        assert (method, path) in OPEN or named, f"{method.upper()} {path} is open to anyone"
    assert {(m, p) for m, p, op in operations(spec) if not op["x-roles"]} == OPEN


def test_every_json_route_documents_its_answer_with_a_typed_schema(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    seen_not_json = set()
    for method, path, op in operations(spec):
        ok = [(code, r) for code, r in op["responses"].items() if code.startswith("2")]
        assert len(ok) == 1, f"{method.upper()} {path}: one success status, not {[c for c, _ in ok]}"
        code, response = ok[0]
        content = response.get("content", {})
        if code == "204":
            assert not content, f"{method.upper()} {path}: a 204 has no body"
        elif (method, path) in NOT_JSON:
            seen_not_json.add((method, path))
            expected = NOT_JSON[method, path]
            assert list(content) == ([expected] if expected else []), f"{method.upper()} {path}: {list(content)}"
        else:
            assert list(content) == ["application/json"], f"{method.upper()} {path}: {list(content)}"
            problem = untyped(content["application/json"]["schema"], components)
            assert problem is None, f"{method.upper()} {path} has no response model: {problem}"
    assert seen_not_json == set(NOT_JSON)


def test_the_untyped_check_finds_the_untyped_answers() -> None:
    components = {"Me": {"type": "object", "properties": {"user": {"type": "string"}}}}
    assert untyped({}, components) == "no type"
    assert untyped({"type": "object", "additionalProperties": True}, components) == "an object with no properties"
    assert untyped({"type": "array", "items": {"type": "object", "additionalProperties": True}}, components)
    assert untyped({"$ref": "#/components/schemas/Gone"}, components)
    assert untyped({"anyOf": [{"$ref": "#/components/schemas/Me"}, {}]}, components) == "no type"
    assert untyped({"type": "array", "items": {"$ref": "#/components/schemas/Me"}}, components) is None
    assert untyped({"type": "object", "additionalProperties": {"type": "integer"}}, components) is None
    assert untyped({"type": "string"}, components) is None


def test_the_api_says_the_release_that_pyproject_gives_not_a_number_written_by_hand(spec: dict[str, Any]) -> None:
    # a package built from the tree reports its own version in /api/health and the API document (it said 0.1.0
    # from the 0.2.0 package when the number was written into the code)
    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert spec["info"]["version"] == project["version"]
