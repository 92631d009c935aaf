"""Named locks shared by every process that uses one storage URL.

The worker pool needs three kinds of mutual exclusion that Optuna's storage does not provide:

* ``init``: creating the tables and a study (concurrent first starts on an empty database otherwise fail
  with ``alembic_version`` / ``pg_type_typname_nsp_index`` unique violations);
* ``budget:<study>``: counting the study's trials and creating the next one is one atomic step, so the
  study ends with exactly ``n_trials`` finished trials however many workers run;
* ``gpu:<uuid>``: a worker holds the slot of the GPU it runs on for its lifetime.

On PostgreSQL a lock is a session-level advisory lock (``pg_advisory_lock``) on its own connection: the
server releases it when the connection closes, so a killed worker (``kill -9``, a lost machine) never
leaves a lock behind. On SQLite it is an exclusive ``flock`` on a file next to the database, released by
the kernel when the process dies (one machine, as SQLite itself). Other backends get a process-local lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.dialects import registry
from sqlalchemy.engine import make_url

# One small engine per URL and process for lock connections (apart from Optuna's pool, so a lock never
# waits for a connection that a trial holds).
_ENGINES: dict[str, sqlalchemy.Engine] = {}
_ENGINES_LOCK = threading.Lock()
_LOCAL_LOCKS: dict[str, threading.Lock] = {}


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of ``name`` (stable across processes and machines)."""
    digest = hashlib.blake2b(f"hebbsearch:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def use_installed_postgres_driver() -> None:
    """Let ``postgresql://`` URLs (no ``+driver``) work with the installed driver.

    SQLAlchemy 2.1 reads them as psycopg (3); hebbsearch depends on psycopg2. When psycopg is missing
    and psycopg2 is there, register psycopg2 as the default PostgreSQL driver of this process, so the
    URL stays as the user wrote it (in messages, and for worker processes, which do the same).
    """
    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        registry.register("postgresql", "sqlalchemy.dialects.postgresql.psycopg2", "PGDialect_psycopg2")


def _lock_engine(url: str) -> sqlalchemy.Engine:
    use_installed_postgres_driver()
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = sqlalchemy.create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)
            _ENGINES[url] = engine
        return engine


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None: not a SQLite file URL)."""
    if not url.startswith("sqlite:///"):
        return None
    rest = url[len("sqlite:///"):].split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest)


def sqlite_lock_path(url: str, name: str) -> Path | None:
    """The lock file of ``name`` for a SQLite URL (None: not a SQLite file URL)."""
    db = sqlite_file(url)
    if db is None:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if len(safe) > 80 or safe != name:
        safe = f"{safe[:60]}-{hashlib.blake2b(name.encode(), digest_size=6).hexdigest()}"
    return Path(f"{db}.{safe}.lock")


def has_tables(url: str) -> bool:
    """Whether the database of ``url`` holds Optuna's tables, fully set up (then opening it needs no lock).

    Optuna creates the tables, then writes ``version_info``, then stamps ``alembic_version``; another
    process may be between those steps, so only a stamped ``alembic_version`` counts as set up.
    """
    if url.startswith("sqlite") and ((db := sqlite_file(url)) is None or not db.exists()):
        return False
    with _lock_engine(url).connect() as conn:
        if not sqlalchemy.inspect(conn).has_table("alembic_version"):
            return False
        return conn.execute(sqlalchemy.text("SELECT 1 FROM alembic_version LIMIT 1")).first() is not None


class StorageLock:
    """A named lock for all processes using ``url``; a context manager, or :meth:`acquire`/:meth:`release`.

    Args:
        url: the storage URL (PostgreSQL: advisory lock; SQLite file: ``flock``; others: in-process).
        name: what is locked, e.g. ``"budget:my-study"``.
    """

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.backend = make_url(url).get_backend_name() if "://" in url else ""
        self._conn: Any = None
        self._fd: int | None = None
        self._local: threading.Lock | None = None
        self.held = False

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock; with ``blocking=False`` return False at once when another process holds it."""
        if self.held:
            raise RuntimeError(f"lock {self.name!r} is already held by this object")
        if self.backend == "postgresql":
            self.held = self._acquire_postgres(blocking)
        elif (path := sqlite_lock_path(self.url, self.name)) is not None:
            self.held = self._acquire_file(path, blocking)
        else:
            with _ENGINES_LOCK:
                self._local = _LOCAL_LOCKS.setdefault(f"{self.url}|{self.name}", threading.Lock())
            self.held = self._local.acquire(blocking)
        return self.held

    def _acquire_postgres(self, blocking: bool) -> bool:
        conn = _lock_engine(self.url).connect()
        try:
            key = lock_key(self.name)
            if blocking:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                ok = True
            else:
                ok = bool(conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()  # end the implicit transaction; the session-level lock stays
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if ok:
            self._conn = conn
        else:
            conn.close()
        return ok

    def _acquire_file(self, path: Path, blocking: bool) -> bool:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock back (a no-op when it is not held)."""
        if not self.held:
            return
        self.held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)})
                conn.commit()
                conn.close()
            except Exception:  # noqa: BLE001 - connection gone: the server has released the lock already
                conn.invalidate()
                conn.close()
        elif self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        elif self._local is not None:
            self._local.release()

    def acquire_polling(self, interval: float, should_stop: Any) -> bool:
        """Try every ``interval`` seconds until the lock is taken (True) or ``should_stop()`` (False)."""
        while not self.acquire(blocking=False):
            if should_stop():
                return False
            time.sleep(interval)
        return True

    def __enter__(self) -> StorageLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


__all__ = ["StorageLock", "has_tables", "lock_key", "sqlite_lock_path", "use_installed_postgres_driver"]
