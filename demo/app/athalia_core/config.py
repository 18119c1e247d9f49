"""Settings read from the environment, validated once at startup.

Every problem is reported with the variable's name and the accepted values, so a
mistyped fault setting stops the release at boot instead of behaving oddly later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from athalia_core import DEFAULT_VERSION

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})
# Gunicorn kills a worker that is silent for 30 s; an injected delay must stay well below.
MAX_LATENCY_MS = 20_000


class ConfigError(RuntimeError):
    """An environment variable holds a value the service cannot run with."""


@dataclass(frozen=True)
class PostgresConfig:
    # A full libpq URL wins over the separate fields when DATABASE_URL is set.
    url: str | None = field(default=None, repr=False)
    host: str = "postgres"
    port: int = 5432
    dbname: str = "athalia"
    user: str = "athalia"
    password: str = field(default="", repr=False)

    def connect_kwargs(self) -> dict[str, object]:
        """Arguments for ``psycopg2.connect``."""
        if self.url:
            # A URL without a password still picks up POSTGRES_PASSWORD(_FILE).
            if self.password and urlsplit(self.url).password is None:
                return {"dsn": self.url, "password": self.password}
            return {"dsn": self.url}
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "password": self.password,
        }

    def describe(self) -> str:
        """Where the database is, without the password (safe to log)."""
        if self.url:
            return redact_url(self.url)
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class RedisConfig:
    url: str | None = field(default=None, repr=False)
    host: str = "redis"
    port: int = 6379

    def describe(self) -> str:
        return redact_url(self.url) if self.url else f"redis://{self.host}:{self.port}"


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    latency_ms: int = 0
    ready_fail: bool = False

    @property
    def active(self) -> bool:
        return self.error_rate > 0 or self.latency_ms > 0 or self.ready_fail


@dataclass(frozen=True)
class Settings:
    version: str = DEFAULT_VERSION
    environment: str = "dev"
    log_level: str = "INFO"
    postgres: PostgresConfig = field(default_factory=PostgresConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    faults: Faults = field(default_factory=Faults)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise one ConfigError listing all problems."""
        env = os.environ if env is None else env
        problems: list[str] = []
        reader = _Reader(env, problems)

        log_level = reader.text("LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            problems.append(f"LOG_LEVEL={env.get('LOG_LEVEL')!r} must be one of {', '.join(LOG_LEVELS)}")

        postgres = PostgresConfig(
            url=reader.text("DATABASE_URL", "") or None,
            host=reader.text("POSTGRES_HOST", "postgres"),
            port=reader.integer("POSTGRES_PORT", 5432, low=1, high=65535),
            dbname=reader.text("POSTGRES_DB", "athalia"),
            user=reader.text("POSTGRES_USER", "athalia"),
            password=reader.secret("POSTGRES_PASSWORD"),
        )
        redis = RedisConfig(
            url=reader.text("REDIS_URL", "") or None,
            host=reader.text("REDIS_HOST", "redis"),
            port=reader.integer("REDIS_PORT", 6379, low=1, high=65535),
        )
        faults = Faults(
            error_rate=reader.fraction("FAULT_ERROR_RATE"),
            latency_ms=reader.integer("FAULT_LATENCY_MS", 0, low=0, high=MAX_LATENCY_MS),
            ready_fail=reader.flag("FAULT_READY_FAIL"),
        )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(
            version=reader.text("APP_VERSION", DEFAULT_VERSION) or DEFAULT_VERSION,
            environment=reader.text("ENVIRONMENT", "dev") or "dev",
            log_level=log_level,
            postgres=postgres,
            redis=redis,
            faults=faults,
        )

    def log_summary(self, log: logging.Logger) -> None:
        log.info(
            "athalia_core %s environment=%s postgres=%s redis=%s",
            self.version,
            self.environment,
            self.postgres.describe(),
            self.redis.describe(),
        )
        if self.faults.active:
            log.warning(
                "FAULT INJECTION ACTIVE: error_rate=%s latency_ms=%s ready_fail=%s",
                self.faults.error_rate,
                self.faults.latency_ms,
                self.faults.ready_fail,
            )


def redact_url(url: str) -> str:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class _Reader:
    """Parses one variable at a time, collecting problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str], problems: list[str]) -> None:
        self._env = env
        self._problems = problems

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, default).strip()

    def secret(self, name: str) -> str:
        # NAME_FILE (a mounted secret) is preferred over the plain variable, as in the
        # official postgres image.  The value itself never appears in a message.
        path = self._env.get(f"{name}_FILE", "").strip()
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                self._problems.append(f"{name}_FILE={path!r} cannot be read: {exc.strerror}")
                return ""
        return self._env.get(name, "")

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self._problems.append(f"{name}={raw!r} must be a whole number from {low} to {high}")
            return default
        return value

    def fraction(self, name: str) -> float:
        raw = self._env.get(name, "").strip()
        if not raw:
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0:  # also rejects nan
            self._problems.append(f"{name}={raw!r} must be a number from 0 to 1 (a fraction of requests)")
            return 0.0
        return value

    def flag(self, name: str) -> bool:
        raw = self._env.get(name, "").strip().lower()
        if raw in TRUE_WORDS:
            return True
        if raw not in FALSE_WORDS:
            words = "/".join(sorted(TRUE_WORDS)) + " or " + "/".join(sorted(FALSE_WORDS - {""}))
            self._problems.append(f"{name}={raw!r} must be one of {words}")
        return False
