"""Spark itself: the engines and their sessions, shipping code to executors, job tags, SQL
text."""
