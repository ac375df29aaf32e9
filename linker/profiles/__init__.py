"""The profiles of a linked account: browsing the mirror and changing (sub)profiles at Copernica.

- :mod:`~linker.profiles.selectors`: the profile browser over a tenant's mirror, a profile's
  subprofiles per collection.
- :mod:`~linker.profiles.search`: the browser's search conditions, served by indexes.
- :mod:`~linker.profiles.keyset`: the browser's next / previous pages by sort key and id.
- :mod:`~linker.profiles.change_selectors`: the changes, their states and conflicts; the version
  of a mirror copy an editor sends back as ``base_modified``.
- :mod:`~linker.profiles.fields`: values checked against a database's or collection's fields.
- :mod:`~linker.profiles.changes`: submitting a (sub)profile create, update or delete.
- :mod:`~linker.profiles.outbox`: what sending changes to Copernica shares (once each, in order);
  :mod:`~linker.profiles.batch_taking`, :mod:`~linker.profiles.batch_sending` and
  :mod:`~linker.profiles.batch_finishing` take, send and finish a link's batch;
  :mod:`~linker.profiles.relay` releases waiting changes and relays unsent ones.
- :mod:`~linker.profiles.sending`: the Copernica calls per kind; the conflict check.
- :mod:`~linker.profiles.mirroring`: a done change shown in the mirror at once.
- :mod:`~linker.profiles.conflicts`: send a change in conflict anyway, or discard it.
- :mod:`~linker.profiles.tasks`: the Celery tasks.
"""
