"""The alerting API under its first name; the code lives in ``ailayer.monitoring.alerting``."""

from ailayer.monitoring.alerting import *  # noqa: F403
from ailayer.monitoring.alerting import __all__  # noqa: F401
