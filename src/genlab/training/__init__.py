"""Training: the one loop every family goes through, and its checkpoints."""
