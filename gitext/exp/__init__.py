"""Experiments: runs recorded under git refs, and their logging to MLflow."""
