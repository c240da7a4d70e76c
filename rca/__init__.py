"""rca: rank the root causes of production machine-learning incidents.

The data flows one way: bundle -> loaded signals -> hypotheses -> graph -> ranked causes -> stored
reviews -> training data. The public entry points are re-exported here.
"""

from rca.contract import Answer, Bundle, bundle_from_dict, load_bundle, validate_bundle
from rca.errors import BundleError, RcaError

__version__ = "0.1.0"

__all__ = ["Answer", "Bundle", "BundleError", "RcaError", "__version__", "bundle_from_dict", "load_bundle",
           "validate_bundle"]
