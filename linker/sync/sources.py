"""What a run walks: the profiles of each database and the subprofiles of each collection.

A *source* is one of those lists at Copernica with its place in the mirror. The engine walks
sources one after the other with the same keyset paging, COPY and checkpoint; removals compare
each source's id list with its live rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model, QuerySet

from api_client import CopernicaClient, KeysetPage, NotFoundError
from linker.models import RemoteCollection, RemoteDatabase, RemoteProfile, RemoteSubprofile
from linker.sync.upserts import PROFILES, SUBPROFILES, Mirror

PROFILE_SOURCE = "profiles"
SUBPROFILE_SOURCE = "subprofiles"


@dataclass(frozen=True)
class Source:
    """The profiles of a database (``kind="profiles"``, ``pk`` a ``RemoteDatabase``) or the
    subprofiles of a collection (``kind="subprofiles"``, ``pk`` a ``RemoteCollection``)."""

    kind: str
    pk: int
    copernica_id: int

    @property
    def key(self) -> str:
        """The source in a checkpoint: ``profiles:12``."""
        return f"{self.kind}:{self.pk}"

    @property
    def mirror(self) -> Mirror:
        return PROFILES if self.kind == PROFILE_SOURCE else SUBPROFILES

    @property
    def model(self) -> type[Model]:
        return RemoteProfile if self.kind == PROFILE_SOURCE else RemoteSubprofile

    def live(self) -> QuerySet[Any]:
        """The rows of this source that the mirror holds as not removed."""
        return self.model._default_manager.filter(
            **{self.mirror.parent: self.pk, "removed_at": None}
        )

    def newest_modified(self) -> datetime | None:
        """The newest ``modified`` the mirror holds of this source (an incremental run's
        ``since``). Asked as the first row of an ordered walk, not as ``MAX()``: with
        statistics that do not know this database or collection yet (a first sync the
        statistics have not seen), the planner costed ``MAX()`` over any index of the parent
        alike and read every row of it through the e-mail index (60 ms for 100,000 rows); the
        ordered form is one entry of the ``(parent, modified)`` index, whatever they say."""
        rows = self.model._default_manager.filter(
            **{self.mirror.parent: self.pk, "modified__isnull": False}
        )
        return rows.order_by("-modified").values_list("modified", flat=True).first()

    def pages(
        self,
        client: CopernicaClient,
        params: dict[str, list[str]],
        *,
        page_size: int,
        after_id=0,
        copying: bool = False,
    ) -> Iterator[KeysetPage]:
        """The keyset walk of this source; ``copying``: pages decoded for COPY text where they
        can be (see ``api_client.listed``)."""
        if self.kind == PROFILE_SOURCE:
            return client.paginate_keyset(
                self.copernica_id, params, page_size, after_id, copying=copying
            )
        return client.paginate_subprofiles_keyset(
            self.copernica_id, params, page_size, after_id, copying=copying
        )

    @property
    def label(self) -> str:
        """The source in a sentence: ``the profiles of database 12`` (Copernica's ids)."""
        if self.kind == PROFILE_SOURCE:
            return f"the profiles of database {self.copernica_id}"
        return f"the subprofiles of collection {self.copernica_id}"

    def ids(self, client: CopernicaClient, start: int = 0) -> Iterator[list[str]]:
        """Copernica's id list of this source, in blocks, from offset ``start``."""
        if self.kind == PROFILE_SOURCE:
            return client.iter_profile_ids(self.copernica_id, start)
        return client.iter_subprofile_ids(self.copernica_id, start)

    def count(self, client: CopernicaClient) -> int:
        """How many (sub)profiles Copernica says this source holds (its list's ``total``)."""
        if self.kind == PROFILE_SOURCE:
            return client.count_profiles(self.copernica_id)
        return client.count_subprofiles(self.copernica_id)

    def confirmed_gone(self, client: CopernicaClient, copernica_id: int) -> bool:
        """Whether Copernica says this (sub)profile is removed, asked one by one."""
        try:
            if self.kind == PROFILE_SOURCE:
                item = client.get_profile(copernica_id)
            else:
                item = client.get_subprofile(copernica_id)
        except NotFoundError:
            return True
        return bool(item.get("removed"))

    def record_counts(self, *, remote: int, local: int) -> None:
        """Drift counts of the database or collection after a full run."""
        model = RemoteDatabase if self.kind == PROFILE_SOURCE else RemoteCollection
        model.objects.filter(pk=self.pk).update(remote_count=remote, local_count=local)


def source_from_key(key: str, copernica_ids: dict[str, int]) -> Source:
    kind, pk = key.split(":", 1)
    return Source(kind=kind, pk=int(pk), copernica_id=copernica_ids[key])


def sources_of(
    databases: list[RemoteDatabase], collections: list[RemoteCollection]
) -> list[Source]:
    """Every profile list first, then every subprofile list (a profile's page is usually in
    the mirror before its subprofiles arrive; nothing depends on it)."""
    return [Source(PROFILE_SOURCE, d.pk, d.copernica_id) for d in databases] + [
        Source(SUBPROFILE_SOURCE, c.pk, c.copernica_id) for c in collections
    ]
