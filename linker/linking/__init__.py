"""Linking a tenant to a Copernica account, and talking to that account.

- :mod:`~linker.linking.applications`: the Copernica API applications (register, pick).
- :mod:`~linker.linking.oauth`: the OAuth handshake, and linking with a pasted API token.
- :mod:`~linker.linking.identity`: which account a token belongs to; the endpoints of a link.
- :mod:`~linker.linking.links`: a link's lifecycle after the handshake (store, confirm,
  verify, disconnect) and the one way to get a tenant's link.
- :mod:`~linker.linking.connect_links`: single-use invitations to link one tenant;
  :mod:`~linker.linking.invitations`: new tenants and the emails that carry those links.
- :mod:`~linker.linking.client`: the per-tenant client service (a link in, a metered client
  out, JWTs shared by every process).
- :mod:`~linker.linking.errors`, :mod:`~linker.linking.tasks`.
"""
