"""Deployment suite: blue-green release, rollbacks and the load gate, on the running stack."""
