"""Pure statistics: arrays in, numbers out. No pandas, no I/O, no logging."""

from rca.stats.distributions import (
    chi2_counts,
    js_distance,
    ks_binned,
    ks_exact,
    psi,
    wasserstein_binned,
    wasserstein_exact,
)
from rca.stats.quality import auc, calibration_gap, log_loss, precision_recall
from rca.stats.series import onset_index, robust_threshold, step_vs_trend, two_proportion_test

__all__ = ["auc", "calibration_gap", "chi2_counts", "js_distance", "ks_binned", "ks_exact", "log_loss",
           "onset_index", "precision_recall", "psi", "robust_threshold", "step_vs_trend", "two_proportion_test",
           "wasserstein_binned", "wasserstein_exact"]
