import pytest
from hint_helpers import Call


@pytest.fixture
def call() -> Call:
    return Call()
