"""Tests for loading dvc.yaml, params files and the dvc.lock codec."""
