"""The ordered live IDs of a generated range: ranks and slices without a scan.

A sandbox database (profiles) and a sandbox collection (subprofiles) both hold a generated
range ``base .. base + size - 1``, minus the IDs removed from it (``removed_generated``,
sorted), plus the IDs created through the API (``created_ids``, always above the range and
in increasing order, as IDs are handed out in increasing order). :class:`LiveIdRange` ranks
and slices that sequence in O(log n) plus the slice, whatever its size.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right


class LiveIdRange:
    """Ordered live IDs over ``base``, ``size``, ``removed_generated`` and ``created_ids``.

    A mixin: the class using it provides those four attributes.
    """

    base: int
    size: int
    removed_generated: list[int]
    created_ids: list[int]

    def in_generated_range(self, item_id: int) -> bool:
        return self.base <= item_id < self.base + self.size

    def forget(self, item_id: int) -> None:
        """Take a live ID out of the sequence (it was removed)."""
        if self.in_generated_range(item_id):
            index = bisect_left(self.removed_generated, item_id)
            self.removed_generated.insert(index, item_id)
        else:
            self.created_ids.remove(item_id)

    @property
    def live_generated(self) -> int:
        return self.size - len(self.removed_generated)

    def live_count(self) -> int:
        return self.live_generated + len(self.created_ids)

    def rank(self, item_id: int) -> int:
        """How many live IDs are below ``item_id``."""
        generated = min(max(item_id - self.base, 0), self.size)
        removed = bisect_left(self.removed_generated, item_id)
        return generated - removed + bisect_left(self.created_ids, item_id)

    def at(self, position: int) -> int:
        """The live ID at ``position`` (0-based) in ID order."""
        live_generated = self.live_generated
        if position >= live_generated:
            return self.created_ids[position - live_generated]
        removed = self.removed_generated
        if not removed:
            return self.base + position
        low, high = position, min(self.size - 1, position + len(removed))
        while low < high:
            middle = (low + high) // 2
            if middle + 1 - bisect_right(removed, self.base + middle) >= position + 1:
                high = middle
            else:
                low = middle + 1
        return self.base + low

    def ids_between(self, start: int, stop: int) -> list[int]:
        """The live IDs at positions ``start`` to ``stop`` (exclusive), ascending."""
        start = max(start, 0)
        stop = min(stop, self.live_count())
        ids: list[int] = []
        if start >= stop:
            return ids
        live_generated = self.live_generated
        if start < live_generated:
            removed = self.removed_generated
            item_id = self.at(start)
            wanted = min(stop, live_generated) - start
            # Whole runs between removed IDs at a time.
            next_removed = bisect_left(removed, item_id)
            while wanted:
                if next_removed < len(removed):
                    run = min(wanted, removed[next_removed] - item_id)
                else:
                    run = wanted
                ids.extend(range(item_id, item_id + run))
                wanted -= run
                item_id += run + 1  # past the removed ID (if any is left to read)
                next_removed += 1
        if stop > live_generated:
            ids.extend(self.created_ids[max(start - live_generated, 0) : stop - live_generated])
        return ids

    def all_live_ids(self, chunk: int = 10_000) -> list[int]:
        """Every live ID, ascending (for scans)."""
        ids: list[int] = []
        total = self.live_count()
        for start in range(0, total, chunk):
            ids.extend(self.ids_between(start, start + chunk))
        return ids
