"""Turning hypotheses into ranked causes: merging, features, rankers, calibration and metrics."""
