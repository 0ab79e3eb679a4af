"""The benchmarks' PostgreSQL database: created on the server when it does not exist yet."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def ensure_database(url: str) -> str:
    """Create the database ``url`` names unless it exists (through the server's ``postgres``
    database, with the same user); returns ``url``."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))  # also for postgresql+psycopg://
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return url
