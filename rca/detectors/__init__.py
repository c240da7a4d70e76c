"""Streaming detectors with River's small interface: ``update(x) -> self``, then read ``drift_detected``."""

from rca.detectors.rolling_ks import RollingKS, first_detection, rolling_ks

__all__ = ["RollingKS", "first_detection", "rolling_ks"]
