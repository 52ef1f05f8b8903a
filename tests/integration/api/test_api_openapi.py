"""The OpenAPI description (journalist_app/api/openapi.yaml, package data) against the
live implementation: the same routes, responses that conform to it, and
schemathesis-generated input (valid and invalid) that never causes a 5xx and always gets
a clear JSON error."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

import journalist_app
from composition.runtime import Runtime
from journalist_app.api.v1 import OPENAPI
from tests.integration.api.conftest import Server
from tests.support.fuzz import examples
from tests.support.journalist import FAST_HASHER, Account, make_source
from tests.support.reliability import record, size
from vault.models import Reviewer
from vault.services.api_tokens import TokenService

SPEC: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
_RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
# Examples per operation: enough to find crashes, within the budget of a suite that runs
# on two databases; the reliability report runs more (with test_hostile_input, over
# 10,000 requests in all); BACKUP_FUZZ_EXAMPLES overrides it (tests/support/fuzz.py).
EXAMPLES = examples(size(ci=25, full=40))


def _spec_routes() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in SPEC["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_description_lists_exactly_the_implemented_routes(runtime: Runtime) -> None:
    app = journalist_app.create_app(runtime.config, runtime, hasher=FAST_HASHER)
    implemented = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = _RULE_PARAM.sub(r"{\1}", rule.rule[len("/api/v1") :])
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                implemented.add((method, path))
    assert implemented == _spec_routes()


def test_description_is_served(server: Server) -> None:
    response = requests.get(server.api("openapi.json"), timeout=20)
    assert response.status_code == 200
    assert response.json() == SPEC


def _is_json_error(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("message"), str)
        and bool(body["message"])
    )


def _token(runtime: Runtime, account: Account) -> str:
    with runtime.session() as db:
        reviewer = db.scalar(select(Reviewer).where(Reviewer.uuid == account.uuid))
        assert reviewer is not None
        service = TokenService(runtime.config.secrets.for_journalist().api_token_key, runtime.redis)
        return service.issue(reviewer).token


def _record(what: str, runtime: Runtime, sent: Counter[int]) -> None:
    """The requests a test really sent, by status, for the reliability report."""
    record(
        f"{what} ({runtime.engine.dialect.name})",
        {
            "requests sent": sum(sent.values()),
            "answers 5xx": sum(n for code, n in sent.items() if code >= 500),
            "answers by status": {str(k): v for k, v in sorted(sent.items())},
        },
        group="hostile",
    )


def _fuzz(runtime: Runtime, server: Server, account: Account, ids: dict[str, str]) -> Counter[int]:
    """Drive every operation with generated input; the answers' statuses, counted."""
    schema = schemathesis.openapi.from_dict(SPEC)
    base_url = server.api("")
    made: Counter[int] = Counter()

    def check(case: Case) -> None:
        # A fresh token each time: a generated POST /logout must not end the run.
        headers = {"Authorization": f"Token {_token(runtime, account)}"}
        # Generated input goes past the token gate: the case's own header is replaced.
        case.headers = {**(case.headers or {}), **headers}
        response = case.call(base_url=base_url, timeout=30)
        made[response.status_code] += 1
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        if response.status_code >= 400:
            assert _is_json_error(response), (case.method, case.path, response.text)
        if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
            # Every check but one: a reply that matches the schema is still refused unless
            # it really is encrypted to the right keys, which no schema can say.
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )

    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the other operations still find the real objects.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        strategies = [
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ]
        # Valid input aimed at objects that exist (the rest mostly hits 404s).
        wanted = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
        if wanted:
            strategies.append(
                operation.as_strategy(
                    generation_mode=GenerationMode.POSITIVE, path_parameters=wanted
                )
            )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def run(case: Case) -> None:
            check(case)

        run()
    return made


@pytest.mark.reliability
def test_generated_input_never_breaks_the_api(
    runtime: Runtime, server: Server, analyst: Account, client_gpg: Any
) -> None:
    made_source = make_source(runtime)
    ids = {
        "source_uuid": made_source.uuid,
        "submission_uuid": made_source.document_uuid,
    }
    sent = _fuzz(runtime, server, analyst, ids)
    assert sum(sent.values()) >= len(_spec_routes()) * 10
    _record("API, schemathesis, with a token", runtime, sent)


@pytest.mark.reliability
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_generated_input_without_a_token_is_refused_in_json(
    runtime: Runtime, server: Server
) -> None:
    schema = schemathesis.openapi.from_dict(SPEC)
    base_url = server.api("")
    public = {"/", "/token", "/openapi.json"}
    sent: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in public:
            continue

        @settings(
            max_examples=max(5, EXAMPLES // 5),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def run(case: Case) -> None:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k != "Authorization"}
            response = case.call(base_url=base_url, timeout=30)
            sent[response.status_code] += 1
            assert response.status_code == 403, (case.method, case.path)
            assert _is_json_error(response)

        run()
    _record("API, schemathesis, without a token", runtime, sent)
