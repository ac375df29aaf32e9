"""Copernica's signed webhooks into the mirror: registration per link, the receiver's checks,
the inbox and applying it, and polling as the gap check (issue 17)."""
