"""Production refuses to start without a real secret or a BASE_URL, or with loopback reachable; development makes
a secret and keeps it; links are built from BASE_URL alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fundcircle.config import DEVELOPMENT_BASE_URL, ConfigError, load_config, normalise_database_url
from tests.factories import make_circle, make_token, make_user


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDCIRCLE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(tmp_path)
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(ConfigError, match="weak"):
        load_config(tmp_path)


def test_production_with_a_real_key_uses_secure_cookies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDCIRCLE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgres://fc@db.internal/fundcircle")
    monkeypatch.setenv("BASE_URL", "https://fund.example.org")
    config = load_config(tmp_path)
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://fc@db.internal/fundcircle"


def test_development_generates_a_secret_key_once_and_keeps_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNDCIRCLE_ENV", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    first = load_config(tmp_path)
    second = load_config(tmp_path)
    assert len(first["SECRET_KEY"]) >= 32 and first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'fundcircle.sqlite'}"
    assert not first["SESSION_COOKIE_SECURE"]


def test_database_urls_use_psycopg_3() -> None:
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_production_refuses_to_start_without_a_base_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDCIRCLE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.delenv("OPENCOLLECTIVE_ALLOW_LOOPBACK", raising=False)
    for value in (None, "", "fund.example.org", "http://fund.example.org"):
        if value is None:
            monkeypatch.delenv("BASE_URL", raising=False)
        else:
            monkeypatch.setenv("BASE_URL", value)
        with pytest.raises(ConfigError, match="BASE_URL"):
            load_config(tmp_path)
    monkeypatch.setenv("BASE_URL", "https://fund.example.org/")
    assert load_config(tmp_path)["BASE_URL"] == "https://fund.example.org"


def test_production_refuses_to_reach_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDCIRCLE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.setenv("BASE_URL", "https://fund.example.org")
    assert load_config(tmp_path)["OPENCOLLECTIVE_ALLOW_LOOPBACK"] is False
    monkeypatch.setenv("OPENCOLLECTIVE_ALLOW_LOOPBACK", "1")
    with pytest.raises(ConfigError, match="OPENCOLLECTIVE_ALLOW_LOOPBACK"):
        load_config(tmp_path)


@pytest.mark.parametrize("base_url", ["https://fund.example.org", None])
def test_invitation_links_use_base_url_never_the_host_header(make_app: Any, base_url: str | None) -> None:
    """A request's Host header is chosen by whoever sends it: a link built from it would send the invited person
    (and their invitation token) to the sender's site. Without BASE_URL, development uses its own default."""
    overrides = {"BASE_URL": base_url} if base_url else {"BASE_URL": ""}
    other = make_app(**overrides)
    with other.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin, name="Seed Library")
        token, circle_id = make_token(admin), circle.id
    client = other.test_client()
    response = client.post(
        f"/api/v1/circles/{circle_id}/members",
        json={"email": "new@example.org", "roles": ["member"]},
        headers={"Authorization": f"Bearer {token}", "Host": "attacker.example"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    url = response.get_json()["invitation"]["url"]
    assert "attacker.example" not in url
    assert url.startswith((base_url or DEVELOPMENT_BASE_URL) + "/invitations/")
