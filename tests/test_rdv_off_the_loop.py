"""The /rdv pages read the PAN's free slots off the event loop (an outside-in audit of the cluster): with
the product's store on PostgreSQL and its bookings table locked (a maintenance's ALTER TABLE, or a frozen
database), one person's slots page waited for it on the event loop and the whole process stopped
answering meanwhile: the chat, the phone's webhooks (a call dropped by Twilio after 15 s), the console."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import psycopg2
from conftest import launch, stop, until


def get(server, path: str, timeout: float = 60) -> int:
    try:
        with urllib.request.urlopen(server.url + path, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_slots_page_waiting_for_a_locked_table_does_not_hold_the_other_requests(postgres, tmp_path):
    url = postgres.schema_url()
    server = launch(tmp_path, db=tmp_path / "aiguillage.db", extra_env={"DATABASE_URL": url})
    holder = psycopg2.connect(url)
    try:
        assert get(server, "/rdv/creneaux?site=aurillac&motif=autre") == 200
        holder.cursor().execute("lock table pan_bookings in access exclusive mode")
        waiting: list[int] = []
        slots = threading.Thread(target=lambda: waiting.append(get(server, "/rdv/creneaux?site=aurillac&motif=autre")))
        slots.start()
        admin = psycopg2.connect(url)
        admin.autocommit = True
        try:  # the slots page's SELECT is waiting for the lock
            cur = admin.cursor()

            def blocked() -> bool:
                cur.execute(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%pan_bookings%'"
                )
                return cur.fetchone()[0] > 0

            until(blocked, 30, "the slots page's read waiting for the lock")
            # meanwhile the same process answers the chat page's configuration
            assert get(server, "/chat/config", timeout=8) == 200
            assert slots.is_alive()  # the slots page still waits: the answer above did not wait for it
        finally:
            admin.close()
        holder.rollback()
        slots.join(60)
        assert waiting and waiting[0] in (200, 503)
    finally:
        holder.rollback()
        holder.close()
        stop(server)


def test_a_slots_page_refused_by_a_locked_table_says_to_reload_not_that_a_sending_was_lost(postgres, tmp_path):
    """A GET sends nothing: its French 503 tells the person to reload the page, not that "votre envoi
    n'a pas été enregistré" (the text of a refused booking or message, which the audit saw on a slots page)."""
    url = postgres.schema_url()
    server = launch(tmp_path, db=tmp_path / "aiguillage.db", extra_env={"DATABASE_URL": url})
    holder = psycopg2.connect(url)
    try:
        holder.cursor().execute("lock table pan_bookings in access exclusive mode")
        try:
            urllib.request.urlopen(server.url + "/rdv/creneaux?site=aurillac&motif=autre", timeout=60)
            raise AssertionError("the slots page was served while its table was locked")
        except urllib.error.HTTPError as exc:
            status, retry, page = exc.code, exc.headers["Retry-After"], exc.read().decode()
        assert (status, retry) == (503, "30")
        assert "Le service est momentanément surchargé. Rechargez la page dans un instant." in page
        assert "envoi" not in page
    finally:
        holder.rollback()
        holder.close()
        stop(server)


def test_a_request_past_the_servers_response_timeout_gets_a_french_503(postgres, tmp_path):
    """A request the server gives up on (Sanic's response timeout, here 2 s instead of 60 s, while a
    slots read waits 10 s for a locked table) gets a French page, and JSON under /rdv/api/: it was
    Sanic's English "503 — Service Unavailable / Response Timeout"."""
    url = postgres.schema_url()
    server = launch(tmp_path, db=tmp_path / "aiguillage.db", extra_env={"DATABASE_URL": url, "SANIC_RESPONSE_TIMEOUT": "2"})
    holder = psycopg2.connect(url)
    try:
        holder.cursor().execute("lock table pan_bookings in access exclusive mode")
        answers = []
        for path in ("/rdv/creneaux?site=aurillac&motif=autre", "/rdv/api/creneaux?site=aurillac&reason=autre"):
            try:
                urllib.request.urlopen(server.url + path, timeout=60)
                raise AssertionError(f"{path} was served while its table was locked")
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, exc.headers["Retry-After"], exc.read().decode()))
        slow = "Le service met trop de temps à répondre. Réessayez dans un instant."
        (page_status, page_retry, page), (api_status, api_retry, api) = answers
        assert (page_status, page_retry) == (503, "30")
        assert slow in page and "Response Timeout" not in page
        assert (api_status, api_retry, json.loads(api)) == (503, "30", {"error": slow})
    finally:
        holder.rollback()
        holder.close()
        stop(server)
