"""Local runtime: child processes, the embedded broker, the embedded stack."""
