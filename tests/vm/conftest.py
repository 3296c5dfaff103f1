import pytest

from vm_support import run_prog


@pytest.fixture
def run():
    return run_prog
