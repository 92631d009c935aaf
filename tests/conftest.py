"""Fixtures for every test package: study storages on SQLite and on PostgreSQL.

PostgreSQL: the server at ``$HEBBSEARCH_TEST_POSTGRES`` (a URL of its maintenance database, default
``postgresql://postgres@127.0.0.1:5432/postgres``). Each test gets a database of its own, named after
this session (``hebbsearch_test_<pid>_<random>_<n>``), dropped after the test; whatever is left is
dropped when the session ends, failures included. Without a server the tests skip, except under
``CI=true``, where they fail: CI must prove both backends.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

POSTGRES_ENV = "HEBBSEARCH_TEST_POSTGRES"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@dataclass
class _Server:
    connection: Any  # psycopg2 connection to the maintenance database, autocommit
    url: Any  # sqlalchemy URL of the maintenance database
    prefix: str
    created: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=itertools.count)

    def create(self) -> str:
        name = f"{self.prefix}_{next(self.counter)}"
        with self.connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        with self.connection.cursor() as cursor:
            # FORCE: connections a test left open (engines not yet collected) must not keep it alive
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[_Server]:
    """The PostgreSQL server of this session (skip without one; fail under CI=true)."""
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES)
    shown = url.render_as_string(hide_password=True)
    try:
        import psycopg2

        connection = psycopg2.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            dbname=url.database or "postgres", connect_timeout=5)
    except Exception as e:  # noqa: BLE001 - no driver, no server, refused: all mean "no PostgreSQL here"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        message = (f"PostgreSQL at {shown} is not reachable ({reason}); start it or set {POSTGRES_ENV} "
                   f"to a server's URL")
        if _in_ci():
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    connection.autocommit = True
    server = _Server(connection, url, f"hebbsearch_test_{os.getpid()}_{secrets.token_hex(3)}")
    try:
        yield server
    finally:
        for name in list(server.created):
            try:
                server.drop(name)
            except Exception as e:  # noqa: BLE001 - report, and go on dropping the others
                print(f"could not drop test database {name}: {e}")
        connection.close()


@pytest.fixture
def postgres_url(postgres_server: _Server) -> Iterator[str]:
    """A ``postgresql://`` URL of a new, empty database, dropped after the test."""
    name = postgres_server.create()
    try:
        yield postgres_server.url_of(name)
    finally:
        postgres_server.drop(name)


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh study storage; tests using it run once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("postgres_url")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL runs (``-m postgres`` / ``-m 'not postgres'`` select them)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if params.get("storage_url") == "postgresql" or "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials store their filter pictures in an artifact directory: never in the working directory."""
    monkeypatch.setenv("HEBBSEARCH_ARTIFACTS", str(tmp_path_factory.mktemp("artifacts")))
