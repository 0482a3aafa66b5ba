"""The Docker test lab: two SSH nodes (hera, afrodita) and two web backends.

Used by the test fixtures and by the README's demo command (`python -m lab`).
"""
