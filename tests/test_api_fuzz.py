"""Schema-driven fuzzing of Open API v1 (schemathesis, in-process over WSGI).

The OpenAPI document is validated first (openapi-spec-validator); then every
operation it declares is called with generated inputs, valid and invalid
(schemathesis' positive and negative modes), against the fixed demo data on
embedded chDB. Checks: no 5xx, documented status codes, documented content
type, responses conform to their schema, and invalid inputs are rejected with
a 4xx. Bounded: 25 examples per operation and generation phase, derandomised
(same inputs every run), no example database; about 20 s.

Deeper local runs: ``API_FUZZ_EXAMPLES=500`` (examples per operation) and
``API_FUZZ_RANDOM=1`` (fresh random inputs each run).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)

from api.openapi import build_openapi

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("API_FUZZ_RANDOM") != "1"
# Hypothesis' caches go to the session's temporary directory (conftest), not ./.hypothesis.
set_hypothesis_home_dir(Path(os.environ["JINJIAN_DATA_DIR"]).parent / "hypothesis")


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate

    doc = build_openapi()
    validate(doc)
    ops = [(path, method) for path, item in doc["paths"].items() for method in item]
    assert len(ops) == 14 and [op for op in ops if op[1] != "get"] == [("/api/v1/ingest/{source}", "post")]
    for path, method in ops:
        responses = doc["paths"][path][method]["responses"]
        assert "200" in responses and ("500" in responses or "/ingest/" in path), path
        for param in doc["paths"][path][method].get("parameters", []):
            schema = doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]["schema"]
            assert {"pattern", "enum", "format", "maximum", "maxLength"} & set(schema) or \
                schema["type"] == "boolean", (path, param)


@pytest.fixture
def api_server(served_db):
    return served_db


def _read_only(doc: dict) -> dict:
    """The document without the ingestion endpoints (token-protected writes; tests/test_ingest_api.py)
    and without the session requirement: the fuzz runs as the local administrator (JINJIAN_AUTH=0);
    logins, sessions and scopes are probed in tests/test_auth_login.py, tests/test_auth_scope.py and tests/test_auth_probe.py."""
    return {**doc, "security": [],
            "paths": {p: item for p, item in doc["paths"].items() if not p.startswith("/api/v1/ingest/")}}


#: Loaded from the dict the app serves (pure, no database); calls go to the app in-process.
schema = schemathesis.openapi.from_dict(_read_only(build_openapi()))


@schema.parametrize()
@pytest.mark.parametrize("demo_db", ["chdb"], indirect=True)  # embedded chDB only
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case, api_server):
    response = case.call_and_validate(app=api_server, checks=CHECKS)
    if case.method.upper() == "GET" or response.status_code >= 400:  # errors keep the JSON shape
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), response.text[:200]
