"""Canary releases: traffic steps through the router, a statistical judge, post-deploy monitoring."""
