"""Evaluation: baselines and metrics that are not a training loss."""
