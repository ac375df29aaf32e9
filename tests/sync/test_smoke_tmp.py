import pytest
from linker import sync
from linker.models import SyncRun
from tests.sync.conftest import profile_page_requests

@pytest.mark.django_db(transaction=True)
def test_smoke(linked, sandbox):
    acc = linked(profiles=5000)
    run, created = sync.sync_run_request(link=acc.link, mode="full", enqueue=False)
    run = sync.sync_run_foreground(run=run)
    print(run.__dict__, sandbox.stats()["requests"])
    assert run.state == "succeeded"
    assert acc.mirror() == acc.remote()
