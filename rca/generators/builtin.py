"""Imports every built-in generator module so that each registers itself."""

from rca.generators import events  # noqa: F401
from rca.generators import histograms  # noqa: F401
from rca.generators import kpis  # noqa: F401
from rca.generators import metrics  # noqa: F401
from rca.generators import predictions  # noqa: F401
from rca.generators import samples  # noqa: F401
from rca.generators import segments  # noqa: F401
from rca.generators import traces  # noqa: F401
