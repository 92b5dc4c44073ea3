"""Checks that transfer actually helped: the negative transfer gap against a from-scratch baseline."""
