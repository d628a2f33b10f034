"""Event publishers and load generators."""
