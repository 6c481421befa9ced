"""The core's tests, grouped like birdie_core/; tests/support.py holds the helpers they share."""
