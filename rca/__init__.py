"""rca: rank the root causes of production machine-learning incidents.

The data flows one way: bundle -> loaded signals -> hypotheses -> graph -> ranked causes -> stored
reviews -> training data. The public entry points are re-exported here.
"""

from importlib.metadata import PackageNotFoundError, version

from rca.contract import Answer, Bundle, bundle_from_dict, load_bundle, validate_bundle
from rca.errors import BundleError, RcaError

try:
    __version__ = version("rca")   # pyproject.toml's, the one place it is written
except PackageNotFoundError:       # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = ["Answer", "Bundle", "BundleError", "RcaError", "__version__", "bundle_from_dict", "load_bundle",
           "validate_bundle"]
