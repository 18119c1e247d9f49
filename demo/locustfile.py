"""Load for the demo app: mostly reads, some writes, as a shop's catalogue sees them.

pytest-athalia runs this with Locust in a subprocess (never inside pytest). Request names are
fixed with ``name=`` (URL templates such as ``/items/{id}``), so Locust reports one stable entry
per method and name, and the per-endpoint thresholds of ``demo/environments/*.yml``
(``endpoints: {"GET /items": [...]}``, i.e. METHOD NAME) match whatever ids the URLs carry.
"""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, between, task


class DemoUser(FastHttpUser):
    """A visitor who browses the latest items, opens some, adds a few and bumps a counter."""

    # Think time as a person's, not a benchmark's: 10 users make ~20 req/s, which dev's demo app
    # serves well within its SLOs even on a busy 2-CPU machine (0.05-0.2 s made ~60 req/s and p95 ~350 ms).
    wait_time = between(0.2, 0.6)

    def on_start(self) -> None:
        self.item_ids: list[int] = []
        self.counter = f"visits-{uuid.uuid4().hex[:8]}"

    @task(6)
    def latest_items(self) -> None:
        with self.client.get("/items", name="/items", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"/items answered {response.status_code}")
                return
            items = (response.json() or {}).get("items", [])
            self.item_ids = [item["id"] for item in items[:20] if isinstance(item, dict) and "id" in item]

    @task(3)
    def one_item(self) -> None:
        if not self.item_ids:
            return
        item_id = random.choice(self.item_ids)
        self.client.get(f"/items/{item_id}", name="/items/{id}")

    @task(2)
    def add_item(self) -> None:
        self.client.post("/items", json={"name": f"load item {uuid.uuid4().hex[:12]}"}, name="/items")

    @task(2)
    def bump_counter(self) -> None:
        self.client.post(f"/counter/{self.counter}", name="/counter/{name}")

    @task(1)
    def version(self) -> None:
        self.client.get("/version", name="/version")
