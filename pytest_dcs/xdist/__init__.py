"""The ladder under pytest-xdist: rung-major scheduling and what workers share."""
