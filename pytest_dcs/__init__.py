"""pytest-dcs: test PySpark transforms at escalating scale.

One test body climbs a ladder of rungs - a tiny sample locally, the same sample on executors,
then nested fractions of the real data - and each rung looks for a scale fail.
"""

from pytest_dcs.compare import FramesDiffer, SchemasDiffer, assert_frames_equal, diff_frames
from pytest_dcs.failures import DcsFailure
from pytest_dcs.rowdiff import RowsDiff, diff_rows
from pytest_dcs.rung import Rung

__all__ = [
    "DcsFailure",
    "FramesDiffer",
    "RowsDiff",
    "Rung",
    "SchemasDiffer",
    "assert_frames_equal",
    "diff_frames",
    "diff_rows",
]
__version__ = "0.1.0"
