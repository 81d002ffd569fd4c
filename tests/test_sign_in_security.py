"""Sign-in throttling (django-axes) and the idle session timeout.

A probe sent 30 wrong passwords for one user in 8 s; every one was answered with the form again and
the right password then worked. Now failures lock the username, and the IP address they came from,
until the lockout ends or an admin unlocks; a session left idle ends too.
"""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.utils import timezone

from billing.factories import UserFactory
from billing.middleware import IdleSessionTimeoutMiddleware

PASSWORD = "memodesk-pass"  # UserFactory's default
LOGIN = "/login/"


def sign_in(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, follow=False
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def victim(db):
    return UserFactory(username="victim")


def test_25_wrong_passwords_lock_the_user_out_and_the_right_one_is_refused(client, victim):
    answers = [sign_in(client, "victim", f"wrong-{n}").status_code for n in range(25)]
    # The first failures are the form again with its error; past the limit, the lockout (429).
    assert answers[0] == 200
    assert answers[-1] == 429
    response = sign_in(client, "victim", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)
    html = response.content.decode()
    assert "Too many failed sign-ins. Signing in is locked for 15 minutes" in html
    assert 'data-testid="lockout"' in html and 'role="alert"' in html
    assert 'value="victim"' in html  # the username stays typed


def test_the_lockout_holds_from_another_ip_for_that_user(client, victim):
    for n in range(10):
        sign_in(client, "victim", f"wrong-{n}", ip="10.0.0.1")
    assert sign_in(Client(), "victim", PASSWORD, ip="10.9.9.9").status_code == 429


def test_one_ip_trying_many_usernames_is_locked_out(client, victim):
    for n in range(10):
        sign_in(client, f"guess-{n}", "wrong", ip="10.0.0.7")
    assert sign_in(client, "victim", PASSWORD, ip="10.0.0.7").status_code == 429
    # Another address signs the same user in: only the guessing IP is locked.
    other = Client()
    assert sign_in(other, "victim", PASSWORD, ip="10.0.0.8").status_code == 302
    assert signed_in(other)


def test_an_admin_unlocks_in_the_django_admin(client, victim, superuser):
    for n in range(12):
        sign_in(client, "victim", f"wrong-{n}")
    assert sign_in(client, "victim", PASSWORD).status_code == 429

    admin = Client()
    admin.force_login(superuser)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "victim" in listing.content.decode()
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    confirm = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert confirm.status_code == 302
    assert not AccessAttempt.objects.exists()

    assert sign_in(client, "victim", PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_lockout_ends_after_its_length(client, victim):
    for n in range(10):
        sign_in(client, "victim", f"wrong-{n}")
    assert sign_in(client, "victim", PASSWORD).status_code == 429
    # The failures were 16 minutes ago: past the 15-minute lockout.
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert sign_in(client, "victim", PASSWORD).status_code == 302


@override_settings(AXES_COOLOFF_TIME=dt.timedelta(minutes=90), AXES_FAILURE_LIMIT=3)
def test_limit_and_length_are_configurable(client, victim):
    for n in range(3):
        sign_in(client, "victim", f"wrong-{n}")
    response = sign_in(client, "victim", PASSWORD)
    assert response.status_code == 429
    assert "locked for 90 minutes" in response.content.decode()


def test_a_success_resets_the_count(client, victim):
    for n in range(9):
        sign_in(client, "victim", f"wrong-{n}")
    assert sign_in(client, "victim", PASSWORD).status_code == 302
    client.logout()
    for n in range(9):
        sign_in(client, "victim", f"again-{n}")
    assert sign_in(client, "victim", PASSWORD).status_code == 302


# --- idle timeout ---------------------------------------------------------------------------------


def age_last_seen(client: Client, seconds: int) -> None:
    session = client.session
    session[IdleSessionTimeoutMiddleware.SESSION_KEY] -= seconds
    session.save()


def test_a_session_idle_for_more_than_30_minutes_ends(client, viewer):
    client.force_login(viewer)
    assert client.get("/memos/").status_code == 200
    age_last_seen(client, 31 * 60)
    response = client.get("/memos/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/memos/")
    assert not signed_in(client)
    login = client.get(response["Location"]).content.decode()
    assert "signed out after 30 minutes without activity" in login


def test_an_htmx_request_after_the_timeout_is_sent_to_the_login_page(client, viewer):
    client.force_login(viewer)
    client.get("/memos/")
    age_last_seen(client, 31 * 60)
    response = client.get("/memos/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/")


def test_activity_keeps_the_session(client, viewer):
    client.force_login(viewer)
    client.get("/memos/")
    age_last_seen(client, 29 * 60)
    assert client.get("/memos/").status_code == 200  # 29 minutes idle: still signed in
    age_last_seen(client, 29 * 60)  # and the clock started again at that request
    assert client.get("/memos/").status_code == 200


@override_settings(SESSION_IDLE_TIMEOUT=5 * 60)
def test_the_idle_timeout_is_configurable(client, viewer):
    client.force_login(viewer)
    client.get("/memos/")
    age_last_seen(client, 6 * 60)
    assert client.get("/memos/").status_code == 302
