"""The demo's PySpark jobs: the code under test."""
