"""Display tokens for wall screens end to end through the Flask server (JINJIAN_AUTH=1):
a token opens the wall of its region and nothing else, revocation ends the wall
session, unknown tokens are refused, and only hashes of secrets are stored. Every
refusal is checked for its status *and* its audit entry.

Runs on both engines (the ``dongguan`` fixture is parametrised over chDB and a
ClickHouse server): jurisdiction 4419, users from tests/authkit.py."""
from __future__ import annotations

import hashlib

import pytest

from tests.authkit import (DG, PASSWORD, TOWN, audits, auth_on, dash_body, dash_post, location,  # noqa: F401
                           logged_in, one_audit, page_body, server, set_cookie_headers, store, tasks_export_body,
                           wall_body)


# ----------------------------------------------------------------------------- display tokens
@pytest.fixture
def wall_token(server, store):
    from auth.admin import Actor, create_token

    token, secret = create_token(store, Actor(None), "东城大屏", TOWN)
    return token, secret


def open_wall(server, secret: str):
    client = server.test_client()
    resp = client.get(f"/wall/{secret}")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client, resp


def test_display_token_opens_the_wall_only(server, store, wall_token):
    token, secret = wall_token
    assert secret.startswith("jjw_") and len(secret) > 30
    assert store.find_token(secret).id == token.id
    one_audit(store, "token_create", region=TOWN)
    client, resp = open_wall(server, secret)
    assert location(resp) == f"/?region={TOWN}"
    flags = [f.strip().lower() for f in set_cookie_headers(resp)[0].split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags
    one_audit(store, "display_open", region=TOWN, username=f"display:{token.id}", ok=True)
    # the wall page, its layout and its callbacks
    assert client.get(f"/?region={TOWN}").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    resp = dash_post(client, wall_body(client, TOWN))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert "wall-kpi-stock" in resp.get_data(as_text=True)
    assert dash_post(client, page_body(client, "/", f"?region={TOWN}")).status_code == 200
    assert audits(store, "display_denied") == []
    # nothing else
    denied = [client.get("/tasks"), client.get(f"/region/{TOWN}"), client.get(f"/api/v1/regions/{DG}"),
              client.get(f"/api/v1/regions/{TOWN}"), client.get("/report/print?region=441900003"),
              dash_post(client, tasks_export_body(client, TOWN)),
              dash_post(client, dash_body(client, "tasks-region-name.children", {"tasks-region.value": TOWN})),
              dash_post(client, page_body(client, "/tasks", f"?region={TOWN}"))]
    assert [r.status_code for r in denied] == [403] * len(denied)
    rows = audits(store, "display_denied")
    assert len(rows) == len(denied)
    assert {r["username"] for r in rows} == {f"display:{token.id}"}
    targets = " ".join(r["target"] for r in rows)
    assert "/tasks" in targets and "tasks-download" in targets and f"/api/v1/regions/{DG}" in targets
    assert audits(store, "export_xlsx") == []


def test_display_token_stays_in_its_region(server, store, wall_token):
    _, secret = wall_token
    client, _ = open_wall(server, secret)
    for region in (DG, "441900004", "", "4401"):
        resp = dash_post(client, wall_body(client, region))
        assert resp.status_code == 403, (region, resp.status_code)
        row = one_audit(store, "scope_denied", ok=False)
        assert row["region"] == region and row["scope"] == TOWN
    assert client.get(f"/?region={DG}").status_code == 403
    assert dash_post(client, page_body(client, "/", f"?region={DG}")).status_code == 403
    # a village inside the town is fine
    village = f"{TOWN}001"
    assert dash_post(client, wall_body(client, village)).status_code == 200


def test_revoked_token_ends_the_wall_session(server, store, wall_token):
    from auth.admin import Actor, revoke_token

    token, secret = wall_token
    client, _ = open_wall(server, secret)
    assert dash_post(client, wall_body(client, TOWN)).status_code == 200
    assert revoke_token(store, Actor(None), token.id) is True
    one_audit(store, "token_revoke", region=TOWN)
    resp = dash_post(client, wall_body(client, TOWN))
    assert resp.status_code == 401
    assert client.get("/").status_code == 302
    resp = server.test_client().get(f"/wall/{secret}")
    assert resp.status_code == 403 and "已被吊销" in resp.get_data(as_text=True)
    assert resp.headers.get("Location") is None and set_cookie_headers(resp) == []
    row = one_audit(store, "display_denied", ok=False)
    assert secret not in row["detail"] and secret[:8] in row["detail"]  # the secret is not logged
    assert revoke_token(store, Actor(None), token.id) is False


@pytest.mark.parametrize("secret", ["jjw_unknown-token-000000000000", "x", "jjw_" + "A" * 32])
def test_unknown_token_is_403(server, store, secret):
    resp = server.test_client().get(f"/wall/{secret}")
    assert resp.status_code == 403 and "大屏链接无效" in resp.get_data(as_text=True)
    one_audit(store, "display_denied", ok=False)
    assert audits(store, "display_open") == []


def test_wall_link_replaces_a_user_session(server, store, wall_token):
    """Opening a wall link in a browser where someone is signed in starts a display
    session: the user's rights do not leak into the wall screen."""
    _, secret = wall_token
    client = logged_in(server, "city_admin")
    assert client.get(f"/api/v1/regions/{DG}").status_code == 200
    assert client.get(f"/wall/{secret}").status_code == 302
    assert client.get(f"/api/v1/regions/{DG}").status_code == 403


def test_token_cannot_be_created_outside_the_jurisdiction(server, store):
    from auth.admin import Actor, create_token
    from domain.errors import ScopeViolation

    with pytest.raises(ScopeViolation):
        create_token(store, Actor(None), "广州大屏", "4401")
    assert store.list_tokens() == []


def test_hashes_not_secrets_are_stored(server, store, wall_token):
    """Passwords as salted hashes, display tokens as their SHA-256 only."""
    from auth.store import display_tokens, users
    from sqlalchemy import select

    _, secret = wall_token
    with store.engine.connect() as conn:
        hashes = [r.pw_hash for r in conn.execute(select(users))]
        toks = [r.token_hash for r in conn.execute(select(display_tokens))]
    assert all(PASSWORD not in h and h.startswith(("scrypt:", "pbkdf2:")) for h in hashes)
    assert len(set(hashes)) == len(hashes)  # salted
    assert toks == [hashlib.sha256(secret.encode()).hexdigest()]
