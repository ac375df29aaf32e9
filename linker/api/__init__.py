"""The JSON API at ``/api/v1/``: Django REST framework views over the linker's services.

Reached only through ``linker.urls``; it sits beside ``linker.views`` at the top of the layers
and enforces exactly the rules the pages do, by calling the same services as the key's maker.
"""
