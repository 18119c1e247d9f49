"""Security suite: Trivy on the images and config files, Bandit on the code, gated per environment."""
