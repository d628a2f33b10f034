"""Faust stream processors: the agent registry and the interaction processor (intake and handler)."""
