"""Thin views: parse input, check access through the selectors, call a service, render."""
