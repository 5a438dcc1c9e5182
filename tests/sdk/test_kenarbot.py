"""kenarbot (a third-party bot SDK on PyPI, written against real Divar) as an echo bot
(echo_bot.py) behind the simulator's events URL. A message sent as the bot pane sends it (POST
/_sim/bot/messages; tests/e2e/kenarbot_pane.test.mjs types one in the pane itself) reaches the
bot, and the bot's reply, sent the way kenarbot sends it (with `"type": "TEXT"` and a button
whose icon is the string "None"), is taken and shown in the bot conversation, each quirk
logged as a warning, nothing refused.
"""

import threading
import time

import pytest
from werkzeug.serving import make_server

from conftest import API_KEY, IDENT_KEY
from echo_bot import make_bot


@pytest.fixture
def echo_bot(sim):
    heard = []
    server = make_server("127.0.0.1", sim.events_port, make_bot(sim.base, API_KEY, IDENT_KEY, heard), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield heard
    server.shutdown()


def test_an_echo_bot_answers_a_message_sent_as_the_bot_pane_sends_it(sim, echo_bot):
    user = sim.chat()["buyer_user_id"]
    since = sim.last_request_id()
    typed = sim.ok("POST", "/_sim/bot/messages", {"user_id": user, "text": "سلام ربات"})
    assert typed["deliveries"][0]["status"] == 200, typed
    assert echo_bot == ["سلام ربات"]
    cid = typed["conversation_id"]
    # The bot replies from inside the webhook, before it answers the delivery.
    deadline = time.time() + 10
    while time.time() < deadline:
        msgs = sim.ok("GET", f"/_sim/conversations/{cid}/messages")["messages"]
        if len(msgs) == 2:
            break
        time.sleep(0.1)
    assert [(m["sender_type"], m["text"]) for m in msgs] == [("HUMAN", "سلام ربات"), ("BOT", "شما گفتید: سلام ربات")]
    assert msgs[1]["buttons"]["rows"][0]["buttons"][0]["caption"] == "دیوار"
    (r,) = sim.requests(since, endpoint="bot_send")
    assert r["status"] == 200 and r["valid"] is True
    assert sorted(r["violations"]) == [
        'warning: buttons.rows[0].buttons[0].icon: unknown enum value "None", read as not set',
        "warning: type: unknown field, ignored",
    ]


def test_a_media_message_reaches_the_bot_and_kenarbot_skips_it_as_it_does_on_divar(sim, echo_bot):
    user = sim.chat()["buyer_user_id"]
    typed = sim.ok(
        "POST", "/_sim/bot/messages",
        {"user_id": user, "type": "IMAGE", "data": {"link": "https://example.invalid/i.jpg", "size_bytes": "1024"}},
    )
    assert typed["deliveries"][0]["status"] == 200
    assert echo_bot == [], "kenarbot processes TEXT only"
