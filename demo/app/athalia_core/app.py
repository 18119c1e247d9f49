"""The Flask application.  Gunicorn serves ``athalia_core.app:app``."""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from athalia_core.cache import Cache
from athalia_core.config import ConfigError, Settings
from athalia_core.db import Database

log = logging.getLogger("athalia_core")

LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
LATEST_LIMIT = 50
LATEST_CACHE_KEY = "items:latest"
LATEST_CACHE_TTL_S = 5
COUNTER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_NAME_LENGTH = 200
MAX_BIGINT = 2**63 - 1
# Liveness must stay honest even in a deliberately broken release: faults never touch it.
FAULT_EXEMPT_PATHS = frozenset({"/health"})
# Readiness has its own fault (FAULT_READY_FAIL): a raised error rate alone must not fail it, so that
# each kind of bad release trips its own rollback trigger.
ERROR_RATE_EXEMPT_PATHS = FAULT_EXEMPT_PATHS | {"/ready"}


def create_app(settings: Settings | None = None, db: Database | None = None, cache: Cache | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logging.getLogger().setLevel(settings.log_level)
    db = db or Database(settings.postgres)
    cache = cache or Cache(settings.redis)
    faults = settings.faults

    app = Flask("athalia_core")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep documented field order

    @app.before_request
    def inject_faults() -> Response | tuple[Response, int] | None:
        if request.path in FAULT_EXEMPT_PATHS:
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if not faults.error_rate or request.path in ERROR_RATE_EXEMPT_PATHS:
            return None
        # A fault-injection coin toss, not a security decision, hence the B311 exemption.
        if random.random() < faults.error_rate:  # nosec B311
            return jsonify(error="injected fault (FAULT_ERROR_RATE)"), 500
        return None

    @app.after_request
    def add_version_header(response: Response) -> Response:
        response.headers["X-App-Version"] = settings.version
        return response

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.get("/ready")
    def ready() -> tuple[Response, int]:
        checks = _run_checks({"postgres": db.ping, "redis": cache.ping})
        if faults.ready_fail:
            checks["fault"] = "error: FAULT_READY_FAIL is set"
        ok = all(result == "ok" for result in checks.values())
        return jsonify(status="ready" if ok else "not ready", checks=checks), 200 if ok else 503

    @app.get("/version")
    def version() -> Response:
        return jsonify(version=settings.version, environment=settings.environment)

    @app.post("/items")
    def add_item() -> tuple[Response, int, dict[str, str]]:
        body = request.get_json(silent=True)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            return (
                jsonify(error=f'expected JSON {{"name": "..."}} with 1 to {MAX_NAME_LENGTH} characters'),
                400,
                {},
            )
        item = db.add_item(name)
        _forget_latest(cache)
        return jsonify(item), 201, {"Location": f"/items/{item['id']}"}

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int) -> tuple[Response, int]:
        item = db.get_item(item_id) if item_id <= MAX_BIGINT else None
        if item is None:
            return jsonify(error=f"item {item_id} not found"), 404
        return jsonify(item), 200

    @app.get("/items")
    def latest_items() -> tuple[Response, int, dict[str, str]]:
        cached, state = _cached_latest(cache)
        items = cached if cached is not None else db.latest_items(LATEST_LIMIT)
        if cached is None and state == "miss":
            _remember_latest(cache, items)
        return jsonify(items=items), 200, {"X-Cache": state}

    @app.post("/counter/<name>")
    def increment(name: str) -> tuple[Response, int]:
        if not COUNTER_NAME.fullmatch(name):
            return jsonify(error="counter names are 1-64 of A-Z a-z 0-9 _ . -"), 400
        return jsonify(name=name, value=cache.incr(name)), 200

    @app.get("/counter/<name>")
    def read_counter(name: str) -> tuple[Response, int]:
        if not COUNTER_NAME.fullmatch(name):
            return jsonify(error="counter names are 1-64 of A-Z a-z 0-9 _ . -"), 400
        return jsonify(name=name, value=cache.counter(name)), 200

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description), exc.code or 500

    @app.errorhandler(psycopg2.Error)
    def database_error(exc: psycopg2.Error) -> tuple[Response, int]:
        log.warning("%s %s: database error: %s", request.method, request.path, str(exc).strip())
        return jsonify(error="database unavailable"), 503

    @app.errorhandler(redis.RedisError)
    def redis_error(exc: redis.RedisError) -> tuple[Response, int]:
        log.warning("%s %s: redis error: %s", request.method, request.path, str(exc).strip())
        return jsonify(error="cache unavailable"), 503

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> tuple[Response, int]:
        log.exception("%s %s failed", request.method, request.path)
        return jsonify(error="internal error"), 500

    settings.log_summary(log)
    return app


def _run_checks(checks: dict[str, Callable[[], None]]) -> dict[str, str]:
    """Run the dependency checks in parallel, so /ready answers within one timeout."""
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = {name: pool.submit(check) for name, check in checks.items()}
    results: dict[str, str] = {}
    for name, future in futures.items():
        exc = future.exception()
        results[name] = "ok" if exc is None else f"error: {str(exc).strip() or type(exc).__name__}"
    return results


def _cached_latest(cache: Cache) -> tuple[list[dict[str, Any]] | None, str]:
    # A cache outage degrades /items to the database instead of failing it.
    try:
        raw = cache.get(LATEST_CACHE_KEY)
    except redis.RedisError as exc:
        log.warning("items cache unavailable, reading the database: %s", exc)
        return None, "bypass"
    if raw is None:
        return None, "miss"
    items: list[dict[str, Any]] = json.loads(raw)
    return items, "hit"


def _remember_latest(cache: Cache, items: list[dict[str, Any]]) -> None:
    try:
        cache.put(LATEST_CACHE_KEY, json.dumps(items), LATEST_CACHE_TTL_S)
    except redis.RedisError as exc:
        log.warning("could not cache the latest items: %s", exc)


def _forget_latest(cache: Cache) -> None:
    # A GET racing this delete may re-cache the old list; the short TTL bounds that staleness.
    try:
        cache.delete(LATEST_CACHE_KEY)
    except redis.RedisError as exc:
        log.warning("could not invalidate the latest items: %s", exc)


def _load() -> Flask:
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr, level=logging.INFO)
    try:
        return create_app()
    except ConfigError as exc:
        log.critical("%s", exc)
        # 3 is gunicorn's "worker failed to boot" code: the master then stops instead of
        # respawning workers that can never start (with or without --preload).
        raise SystemExit(3) from None


app = _load()
