"""Telling people when a link needs them: one email per cause, and a notice on the pages.

- :mod:`~linker.notifications.services`: raising, emailing, resolving and listing notices.
- :mod:`~linker.notifications.tasks`: the periodic scan (beat).
"""
