"""Experiment tracking (MLflow) and its local server."""
