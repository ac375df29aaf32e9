"""The profiles of a linked account: browsing the mirror and changing them at Copernica.

- :mod:`~linker.profiles.selectors`: the profile browser over a tenant's mirror.
- :mod:`~linker.profiles.fields`: values checked against a database's fields and interests.
- :mod:`~linker.profiles.changes`: submitting a create, update or delete.
- :mod:`~linker.profiles.outbox`: sending changes to Copernica, once each, in order; the relay.
- :mod:`~linker.profiles.tasks`: the Celery tasks.
"""
