"""The bounded cache of the JSON of generated profiles and subprofiles, one per sandbox state.

Serializing a generated (sub)profile is most of the sandbox's work on a list answer (~3.5 ms
a page of 1,000 subprofiles), and the sandbox shares the machine with what it serves: in
the sync benches its CPU was taken from the engine and PostgreSQL. Copernica's own cost is
not on our machine, so pages already served are served again from here.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence

#: How many serialized generated profiles and subprofiles a :class:`ProfileCache` keeps by
#: default. An entry costs ~0.4 KB (a ~290-byte full profile or ~200-byte ``dataonly`` one,
#: plus the bytes object and the LRU's slot), so the default bounds the cache at roughly
#: 100 MB whatever the size of the databases: an account of 100,000 profiles fits in it in
#: both shapes.
DEFAULT_CACHE_PROFILES = 250_000


class ProfileCache:
    """A bounded LRU of the JSON of generated profiles and subprofiles, shared by a state's
    databases and collections.

    It holds only items exactly as generated: a (sub)profile that is changed, removed or
    created lives in its database's (collection's) overlay, which is looked up first and
    always serialized afresh; a profile's entries are also dropped here when it enters the
    overlay (:meth:`Database.materialise`, :meth:`Database.add`). Profile IDs are unique
    within a sandbox state and so are subprofile IDs, so a profile's key is
    ``2 * ID + dataonly`` and a subprofile's the same negated, less one. The generated
    content is a pure function of (seed, database or collection, ID), which makes "as
    generated" the one version an entry can have.
    """

    def __init__(self, capacity: int = DEFAULT_CACHE_PROFILES) -> None:
        self.capacity = max(0, capacity)
        self.items: OrderedDict[int, bytes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.items)

    def discard(self, profile_id: int) -> None:
        self.items.pop(2 * profile_id, None)
        self.items.pop(2 * profile_id + 1, None)

    def clear(self) -> None:
        self.items.clear()

    def served(
        self,
        keys: list[int],
        ids: Sequence[int],
        base: int,
        dataonly: bool,
        generate: Callable[[list[int], bool], list[bytes]],
    ) -> list[bytes]:
        """The JSON of the generated items ``ids`` of one database or collection (whose range
        starts at ``base``), under ``keys`` (:func:`profile_keys`, :func:`subprofile_keys`):
        cached ones from here, the others made by ``generate`` (of their indices) and kept.
        Look-ups and updates in bulk."""
        items = self.items
        texts: list[bytes | None] = list(map(items.get, keys))
        missing = [position for position, text in enumerate(texts) if text is None]
        if len(missing) < len(keys):
            hit_keys = keys if not missing else [keys[i] for i, t in enumerate(texts) if t]
            deque(map(items.move_to_end, hit_keys), maxlen=0)
        if missing:
            generated = generate([ids[position] - base for position in missing], dataonly)
            for position, text in zip(missing, generated, strict=True):
                texts[position] = text
            if self.capacity:
                items.update(zip([keys[position] for position in missing], generated, strict=True))
                for _ in range(len(items) - self.capacity):
                    items.popitem(last=False)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        return texts  # type: ignore[return-value]


def profile_keys(ids: Iterable[int], dataonly: bool) -> list[int]:
    """The cache keys of profiles ``ids`` (``2 * ID + dataonly``)."""
    variant = 1 if dataonly else 0
    return [2 * profile_id + variant for profile_id in ids]


def subprofile_keys(ids: Iterable[int], dataonly: bool) -> list[int]:
    """The cache keys of subprofiles ``ids``: negative, apart from every profile's."""
    variant = 1 if dataonly else 0
    return [-2 * subprofile_id - variant - 1 for subprofile_id in ids]
