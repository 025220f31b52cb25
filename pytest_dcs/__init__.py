"""pytest-dcs: test PySpark transforms at escalating scale.

One test body climbs a ladder of rungs - a tiny sample locally, the same sample on executors,
then nested fractions of the real data - and each rung looks for a scale fail.
"""

from pytest_dcs.failures import DcsFailure
from pytest_dcs.rung import Rung

__all__ = ["DcsFailure", "Rung"]
__version__ = "0.1.0"
