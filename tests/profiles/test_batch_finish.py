"""``batch_finish`` records onto the batch's own copies only the rows still *sending* since
its take: one the relay took back meanwhile keeps what the relay wrote."""

from __future__ import annotations

from datetime import timedelta

from linker.models import ProfileChange, RemoteDatabase
from linker.profiles.batch_finishing import ChangeResult, batch_finish
from linker.profiles.batch_taking import batch_take
from linker.profiles.sending import Sent
from tests.conftest import World
from tests.factories import link_tenant

State = ProfileChange.State


def test_a_change_taken_back_meanwhile_is_left_as_the_relay_wrote_it(world: World) -> None:
    link = link_tenant(world.tenant_a1)
    database = RemoteDatabase.objects.create(link=link, copernica_id=1, name="Main")
    changes = [
        ProfileChange.objects.create(
            link=link,
            database=database,
            kind="update",
            copernica_profile_id=n,
            fields={"city": f"City {n}"},
            created_by=world.agency_admin_a,
        )
        for n in (1, 2, 3)
    ]
    taken = batch_take(changes[0].pk)
    assert isinstance(taken, tuple)
    _link, batch = taken
    assert len(batch) == 3
    # The relay took the second back (queued again) and another worker the third (sending
    # since a later take).
    ProfileChange.objects.filter(pk=changes[1].pk).update(
        state=State.QUEUED, sending_since=None, error_message="relayed"
    )
    later = batch[2].sending_since + timedelta(seconds=5)  # type: ignore[operator]
    ProfileChange.objects.filter(pk=changes[2].pk).update(sending_since=later)
    results = {c.pk: ChangeResult(State.DONE, sent=Sent(c.copernica_profile_id)) for c in batch}
    outcomes = batch_finish(batch, results, None)
    assert [outcomes[c.pk].state for c in changes] == [State.DONE, State.QUEUED, State.SENDING]
    stored = {row.pk: row for row in ProfileChange.objects.all()}
    assert (stored[changes[0].pk].state, stored[changes[0].pk].attempts) == (State.DONE, 1)
    assert stored[changes[0].pk].finished_at is not None
    assert (stored[changes[1].pk].state, stored[changes[1].pk].error_message) == (
        State.QUEUED,
        "relayed",
    )
    assert (stored[changes[2].pk].state, stored[changes[2].pk].sending_since) == (
        State.SENDING,
        later,
    )
    assert stored[changes[2].pk].finished_at is None
