"""Downstream consumers of the response stream: the social graph and the metrics."""
