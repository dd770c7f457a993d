"""Evaluation: aggregating clip scores into video predictions and hit@k."""
