"""The API fuzzed from its own OpenAPI document (schemathesis) against a running gateway on a real mosquitto: no
input — path, query or body — may make it fail (5xx) or crash, and a refused body names the field at fault."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.conftest import PASSWORD, USERS, GatewayProcess

EXAMPLES = 50  # at most, per operation
EDGES = [
    ("GET", "/api/reports/9999-12-31"),
    ("GET", "/api/reports/0001-01-01"),
    ("GET", "/api/reports/9999-12-31/daily.csv"),
    ("GET", "/api/reports/2026-02-30"),
    ("GET", "/api/alerts?limit=1000000"),
    ("GET", "/api/devices/%00"),
    ("POST", "/api/alerts/%F0%9F%98%80/ack"),
    ("POST", "/api/tickets/x/resolve"),
]


def names_the_field(response: Any) -> None:
    """A 422 says which field was wrong (FastAPI's `loc`, or our own 'field: message')."""
    if response.status_code == 422:
        detail = response.json().get("detail")
        assert detail, f"a 422 without a reason: {response.text[:200]}"
        if isinstance(detail, list):
            assert all(d.get("loc") for d in detail), f"a 422 without the field path: {response.text[:300]}"


def test_every_route_refuses_every_role_it_does_not_name(hall: GatewayProcess) -> None:
    """Generated from the route table (the OpenAPI document's x-roles), not hand-picked."""
    spec = hall.get("/openapi.json")
    assert isinstance(spec, dict)
    refused, allowed = [], []
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method, op in operations.items():
            roles = op["x-roles"]
            if not roles:  # open: health, signing in and out
                continue
            for user, (role, _) in USERS.items():
                if role == "administrator":
                    continue
                with hall.http.stream(method, concrete, json={}, auth=(user, PASSWORD), timeout=5) as r:
                    r.read() if path != "/api/stream" else None  # the live stream never ends: its status is enough
                if role in roles:
                    allowed.append((method, path, role, r.status_code))
                    assert r.status_code != 403, f"{method} {path} refuses {role}, which it names"
                else:
                    refused.append((method, path, role))
                    assert r.status_code == 403, f"{method.upper()} {path} let a {role} through: {r.status_code}"
                    assert role in r.json()["detail"]
    assert len(refused) >= 10 and len(allowed) >= 40  # both sides of the table were exercised


def test_no_input_makes_the_api_fail(hall: GatewayProcess) -> None:
    base = f"http://127.0.0.1:{hall.port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", auth=("root", PASSWORD))  # for signed-in users
    failures: list[str] = []
    tried: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/stream":  # the live stream never ends, by design
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            key = f"{case.method} {case.path}"
            tried[key] = tried.get(key, 0) + 1
            response = case.call(base_url=base, auth=("root", PASSWORD), timeout=10)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:200]}")
                return
            names_the_field(response)

        fuzz()
    # inputs at the edges that random generation rarely reaches (each of these once gave a 500)
    for method, path in EDGES:
        response = hall.http.request(method, path, json={} if method == "POST" else None)
        if response.status_code >= 500:
            failures.append(f"{method} {path} → {response.status_code}")
        names_the_field(response)
    assert hall.proc is not None and hall.proc.poll() is None, "the gateway is still running"
    assert failures == [], "server errors:\n" + "\n".join(failures[:20])
    assert len(tried) >= 30 and sum(tried.values()) > 10 * len(tried)  # every operation, most of them many times
