"""What operators watch: JSON log lines, Prometheus metrics, background loops that stop.

Imports no other wing.
"""
