"""The chaos suite: faults injected into a running pipeline, and every request accounted for."""
