"""Models of the linking domain."""
