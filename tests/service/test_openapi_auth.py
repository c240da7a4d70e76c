"""The OpenAPI document says how to authenticate and who may call each operation, and the service does what it
says: each documented role is admitted, every other role gets 403, no key gets 401."""

from __future__ import annotations

import re

from rca.store.models import Role


def _operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, re.sub(r"\{[^}]+\}", "x", path), operation


def _documented_roles(operation: dict) -> set[str] | None:
    found = re.search(r"Needs an API key of role (.+)\.$", operation.get("description", ""))
    return set(re.split(r", | or ", found.group(1))) if found else None


def test_every_operation_behind_a_key_documents_how_and_who(client):
    spec = client.app.openapi()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    open_ops = []
    for method, path, operation in _operations(spec):
        roles = _documented_roles(operation)
        if roles is None:
            assert "security" not in operation
            open_ops.append(f"{method.upper()} {path}")
        else:
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}]
            assert "admin" in roles and roles <= {r.value for r in Role}
    assert open_ops == ["GET /healthz", "GET /metrics"]


def test_the_service_admits_the_roles_its_document_names(client, keys):
    refused, wrong = [], []
    for method, path, operation in _operations(client.app.openapi()):
        roles = _documented_roles(operation)
        if roles is None or (method, path) == ("post", "/v1/rankers/retrain"):  # an admitted one trains; see below
            continue
        body = {"json": {}} if method in ("post", "put", "patch") else {}
        if client.request(method.upper(), path, **body).status_code != 401:
            refused.append((method, path, "no key"))
        for role in Role:
            status = client.request(method.upper(), path, headers=keys[role.value], **body).status_code
            if (status == 403) == (role.value in roles) or status == 401:
                wrong.append((method, path, role.value, status))
    assert refused == [] and wrong == []
    retrain = next(op for method, path, op in _operations(client.app.openapi())
                   if (method, path) == ("post", "/v1/rankers/retrain"))
    assert _documented_roles(retrain) == {"admin"}
    for role in (Role.reviewer, Role.trigger):
        assert client.post("/v1/rankers/retrain", headers=keys[role.value]).status_code == 403


def test_operations_document_their_503s(client):
    """Every operation behind a key reads the store, which may be away; those that load the ranker registry
    say so too."""
    spec = client.app.openapi()
    with_503 = {f"{method.upper()} {path}": operation["responses"].get("503", {}).get("description", "")
                for method, path, operation in _operations(spec) if _documented_roles(operation)}
    assert all(said.startswith("the review store could not be reached") for said in with_503.values())
    registry = sorted(op for op, said in with_503.items() if "ranker registry" in said)
    assert registry == ["GET /v1/incidents/x/why", "GET /v1/rankers", "POST /v1/rankers/rollback",
                        "POST /v1/rankers/x/promote"]
