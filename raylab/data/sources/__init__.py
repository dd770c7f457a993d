"""Readers of real dataset layouts on disk, and a writer of synthetic data in those layouts."""
