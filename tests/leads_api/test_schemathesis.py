"""schemathesis against the app's own OpenAPI: a bounded, derandomized run over every operation,
once as an admin and once as an analyst of one district, over a seeded SQLite store. Any 5xx
(or an exception escaping the app) fails the test, naming each failing operation with a curl
line to replay it.

Generated ids are almost never real, so lead ids, other ids, post ids, versions, categories,
items and districts are drawn partly from the seeded store and the config: the requests then
reach the actions themselves, not only their 404 and 422 answers.
"""
from __future__ import annotations

import traceback
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from core.store import LeadNotFound, Store
from leads_api.app import create_app
from tests.conftest import T0, make_post

pytestmark = pytest.mark.slow

# examples per operation: schema-valid requests, then requests that break the schema
# (negative), which must meet a 4xx, never a 500
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
# (id, status, district, posts); two districts so the analyst's scoping is exercised
LEADS = [("L0000000000e1", LeadStatus.NEW, "南山区", 3), ("L0000000000e2", LeadStatus.NEW, "南山区", 2),
         ("L0000000000e3", LeadStatus.VERIFIED, "南山区", 1), ("L0000000000e4", LeadStatus.REJECTED, "南山区", 2),
         ("L0000000000e5", LeadStatus.NEW, "福田区", 2), ("L0000000000e6", LeadStatus.IN_REVIEW, "福田区", 1)]
LEAD_IDS = [lead_id for lead_id, *_ in LEADS]


def _seed(store: Store) -> list[str]:
    post_ids, n = [], 0
    for lead_id, status, district, posts in LEADS:
        members = []
        for k in range(posts):
            n += 1
            post = make_post(str(n), f"{district}第{n}处路面塌陷 <script>alert(1)</script>",
                             at=T0 + timedelta(minutes=k))
            store.posts.upsert([post])
            store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, "交通运输", district,
                                                            None, item="JT002", text_hash=f"h{n}"))])
            members.append((post.id, 1.0))
            post_ids.append(post.id)
        lead = Lead(id=lead_id, status=status, title=f"{district}路面塌陷", category="交通运输", district=district,
                    street=None, unit="区交通运输局", urgent=False, priority=0.5, priority_parts=PriorityParts(),
                    post_count=posts, platform_count=1, first_seen=T0, last_seen=T0 + timedelta(minutes=posts),
                    item="JT002", detected_at=T0, sla_due_at=T0 + timedelta(minutes=30),
                    reject_reason="spam" if status == LeadStatus.REJECTED else None,
                    claimed_by="sue" if status == LeadStatus.IN_REVIEW else None,
                    claim_expires_at=T0 + timedelta(days=3650) if status == LeadStatus.IN_REVIEW else None)
        store.leads.create(lead, members, LeadEvent(lead_id, "created", "clusterer", T0, {}))
    return post_ids


@pytest.fixture
def desk(tmp_path, config):
    """A fresh store per run, so what one role's run changed never steers the other's."""
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    post_ids = _seed(store)
    store.users.add("root", "admin", password="pw-iron-gate-9")
    store.users.add("ana", "analyst", password="pw-river-stone-1", districts=("南山区",))
    store.users.add("sue", "supervisor", password="pw-cloud-gate-3")
    tokens = {name: store.users.add_token(name, "schemathesis") for name in ("root", "ana")}
    app = create_app(store, config, secret="schemathesis-secret")
    yield app, store, tokens, post_ids
    store.close()


def _known_values(config, post_ids: list[str]) -> dict[str, list]:
    return {"lead_id": LEAD_IDS, "other_id": LEAD_IDS,
            "category": [c.name for c in config.catalogue.categories],
            "item": [item.id for c in config.catalogue.categories for item in c.items],
            "district": [d.name for d in config.gazetteer.districts], "post_id": post_ids}


def _steer(schema, store: Store, known: dict[str, list]) -> None:
    """Replace most generated ids, and some other values, with real ones (hypothesis still draws
    which), and send the lead's current version half the time: otherwise nearly every action
    stops at its 404 or 409 and the code behind it is never reached."""

    def real_or(value, name):
        return st.sampled_from([*known[name], value])

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if "lead_id" not in (path_parameters or {}):
            return st.just(path_parameters)
        return real_or(path_parameters["lead_id"], "lead_id").map(lambda i: {**path_parameters, "lead_id": i})

    @schema.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict):
            return st.just(body)
        fields = {k: real_or(v, k) for k, v in body.items() if k in known}
        if isinstance(body.get("post_ids"), list):
            fields["post_ids"] = st.one_of(st.just(body["post_ids"]),
                                           st.lists(st.sampled_from(known["post_id"]), min_size=1, max_size=4))
        if isinstance(body.get("items"), list):  # bulk
            fields["items"] = st.one_of(st.just(body["items"]), st.lists(st.fixed_dictionaries(
                {"id": st.sampled_from(LEAD_IDS), "version": st.integers(1, 4)}), min_size=1, max_size=4))
        if not fields:
            return st.just(body)
        return st.fixed_dictionaries(fields).map(lambda chosen: {**body, **chosen})

    def current(lead_id) -> int | None:
        try:
            return store.leads.get(lead_id).version
        except LeadNotFound:  # not a lead: keep the generated version
            return None

    @schema.hook
    def flatmap_case(context, case):
        body = case.body
        if not isinstance(body, dict) or "version" not in body or "lead_id" not in (case.path_parameters or {}):
            return st.just(case)

        def fresh(yes: bool):
            if yes:
                pairs = (("version", case.path_parameters["lead_id"]), ("other_version", body.get("other_id")))
                case.body = {**body, **{k: v for k, lead in pairs if k in body and (v := current(lead))}}
            return case
        return st.booleans().map(fresh)


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz(operation, headers: dict, mode: GenerationMode) -> str | None:
    """None when no example got a server error; else what the first failing one was."""
    failure: dict = {}

    @settings(max_examples=EXAMPLES[mode], derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        try:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])
        except Exception as exc:  # noqa: BLE001 - a failed check or an exception the app let escape
            failure.setdefault("case", f"{type(exc).__name__}: {str(exc).strip()[:800]}\n"
                                       f"  replay: {case.as_curl_command(headers=headers)}")
            raise

    try:
        run()
    except Unsatisfiable:  # negative mode and an operation with nothing to get wrong (GET /healthz)
        return None
    except Exception:  # noqa: BLE001 - hypothesis re-raises the failing example's error
        return failure.get("case") or traceback.format_exc(limit=3)
    return None


@pytest.mark.parametrize("who", ["root", "ana"], ids=["admin", "analyst-nanshan"])
def test_no_operation_answers_a_server_error(desk, config, who):
    app, store, tokens, post_ids = desk
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    _steer(schema, store, _known_values(config, post_ids))
    headers = {"Authorization": f"Bearer {tokens[who]}"}
    operations = _operations(schema)
    assert len(operations) >= 20  # every JSON operation, not a schema that lost its paths
    failures = {f"{op.label} ({mode.value})": reason for mode in EXAMPLES for op in operations
                if (reason := _fuzz(op, headers, mode)) is not None}
    assert not failures, f"{len(failures)} operation(s) answered 5xx as {who}:\n" + "\n\n".join(
        f"{label}\n  {reason}" for label, reason in failures.items())
