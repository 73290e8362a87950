"""Keyed hashes of contacts: the same person under several spellings, never the contact itself."""

import pytest

from bot.services.identity import contact_key, normalise_contact
from bot.store.database import Store

pytestmark = pytest.mark.usefixtures("store_backend")  # SQLite and PostgreSQL (tests/store_backends.py)


def test_spellings_of_one_contact_share_a_key_and_differ_from_another(tmp_path):
    store = Store(tmp_path / "a.db")
    phone = {contact_key(store, v) for v in ["06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "+33612345678"]}
    mail = {contact_key(store, v) for v in ["Marie.Dupont@Gmail.com ", "marie.dupont@gmail.com"]}
    assert len(phone) == 1 and len(mail) == 1
    assert phone != mail
    assert contact_key(store, "06 98 76 54 32") not in phone
    assert contact_key(store, "") is None and contact_key(store, None) is None
    assert normalise_contact("06 12 34 56 78") == "+33612345678"
    assert normalise_contact(" Marie.Dupont@Gmail.com") == "marie.dupont@gmail.com"


def test_the_key_is_the_stores_own_so_another_store_gives_another_hash(tmp_path):
    first, second = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    value = contact_key(first, "0612345678")
    assert len(value) == 64 and "0612345678" not in value and "33612345678" not in value
    assert contact_key(second, "0612345678") != value
    # Reopened, the same store keeps its key: the hash of a booking stays matchable.
    first.close()
    assert contact_key(Store(tmp_path / "a.db"), "0612345678") == value
