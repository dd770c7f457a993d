"""Shards, clip planning, decoding, augmentation and the Ray Data pipeline."""
