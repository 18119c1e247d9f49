"""Redis access: counters and a short-lived cache."""

from __future__ import annotations

import redis

from athalia_core.config import RedisConfig

TIMEOUT_S = 2
KEY_PREFIX = "athalia:"


class Cache:
    def __init__(self, config: RedisConfig) -> None:
        # redis-py connects lazily and re-creates its pool after fork(), so building the
        # client at import time (even in the gunicorn master) is safe.
        self._client: redis.Redis[bytes]
        if config.url:
            self._client = redis.Redis.from_url(config.url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
        else:
            self._client = redis.Redis(
                host=config.host, port=config.port, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S
            )

    def ping(self) -> None:
        if not self._client.ping():
            raise redis.RedisError("PING was not answered with PONG")

    def incr(self, counter: str) -> int:
        return int(self._client.incr(KEY_PREFIX + "counter:" + counter))

    def counter(self, counter: str) -> int:
        value = self._client.get(KEY_PREFIX + "counter:" + counter)
        return 0 if value is None else int(value)

    def get(self, key: str) -> bytes | None:
        value = self._client.get(KEY_PREFIX + key)
        return None if value is None else bytes(value)

    def put(self, key: str, value: str, ttl_s: int) -> None:
        self._client.set(KEY_PREFIX + key, value, ex=ttl_s)

    def delete(self, key: str) -> None:
        self._client.delete(KEY_PREFIX + key)
