"""Streaming detectors with River's small interface: ``update(x) -> self``, then read ``drift_detected``."""

from rca.detectors.rolling_ks import RollingKS, rolling_ks

__all__ = ["RollingKS", "rolling_ks"]
