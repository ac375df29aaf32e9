"""Field lengths from Copernica's field definitions, enforced before anything is queued (issue 14:
a 300-character city was accepted and sent to Copernica, whose field is 255 long)."""

from __future__ import annotations

import re

import pytest

from linker.models import ProfileChange, RemoteDatabase
from linker.platform.errors import InvalidInputError
from linker.profiles.fields import profile_fields_clean
from tests.pages.conftest import Mirror
from tests.pages.test_profiles import _detail_url, _edit


@pytest.fixture
def limited(mirror: Mirror) -> Mirror:
    """The mirror's database as Copernica describes it: text fields 255 long, ``length`` as a
    string, ``0`` for no limit."""
    database = mirror.database
    database.fields = [
        {"name": "email", "type": "email", "length": "255"},
        {"name": "firstname", "type": "text", "length": "0"},
        {"name": "city", "type": "text", "length": "255"},
        {"name": "age", "type": "integer", "length": "0"},
    ]
    database.save(update_fields=["fields"])
    return mirror


def test_a_value_longer_than_its_field_is_refused_next_to_the_field(limited: Mirror) -> None:
    profile = limited.profile(1003)
    long_city = "Amsterdam " * 30  # 300 characters
    response = limited.staff.post(_detail_url(limited, 1003), _edit(profile, f_city=long_city))
    page = response.content.decode()
    assert response.status_code == 200
    assert "At most 255 characters" in page
    assert long_city.strip() in page  # the input is kept
    assert not ProfileChange.objects.exists()


def test_a_value_as_long_as_its_field_is_queued(limited: Mirror) -> None:
    profile = limited.profile(1003)
    city = "U" * 255
    limited.staff.post(_detail_url(limited, 1003), _edit(profile, f_city=city))
    assert ProfileChange.objects.get().fields == {"city": city}


def test_the_form_tells_the_browser_the_limit(limited: Mirror) -> None:
    page = limited.staff.get(_detail_url(limited, 1003)).content.decode()
    inputs = {
        match.group(1): match.group(0)
        for match in re.finditer(r'<input[^>]*name="(f_\w+)"[^>]*>', page)
    }
    assert 'maxlength="255"' in inputs["f_city"]
    assert 'maxlength="255"' in inputs["f_email"]
    assert 'maxlength="255"' not in inputs["f_firstname"]  # "0": no limit stated


def test_the_service_refuses_too_long_values_whoever_calls_it(limited: Mirror) -> None:
    database = RemoteDatabase.objects.get(pk=limited.database.pk)
    with pytest.raises(InvalidInputError) as refused:
        profile_fields_clean(database=database, fields={"city": "x" * 256, "firstname": "y" * 999})
    assert set(refused.value.field_errors) == {"city"}
    assert profile_fields_clean(database=database, fields={"firstname": "y" * 999}) == {
        "firstname": "y" * 999
    }
