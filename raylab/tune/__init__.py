"""Hyperparameter sweeps with Ray Tune."""
