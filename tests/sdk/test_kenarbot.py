"""kenarbot (a third-party bot SDK on PyPI, written against real Divar) as an echo bot behind
the simulator's events URL: a message a person types in the simulator's bot pane (the pane's
own call, POST /_sim/bot/messages) reaches the bot, and the bot's reply — sent the way kenarbot
sends it, with `"type": "TEXT"` and a button whose icon is the string "None" — is taken and shown
in the bot conversation, each quirk logged as a warning, nothing refused.
"""

import threading
import time

import kenarBot.app
import pytest
from kenarBot.app import KenarBot
from kenarBot.types.actions import OpenDirectLink
from kenarBot.types.inline_keyboard import InlineKeyboardButton, InlineKeyboardMarkup
from werkzeug.serving import make_server

from conftest import API_KEY, IDENT_KEY


@pytest.fixture
def echo_bot(sim):
    # kenarbot has Divar's address as a module constant; point it at the simulator.
    kenarBot.app.BASE_URL = sim.base
    bot = KenarBot(divar_identification_key=IDENT_KEY, webhook_url="/webhook", x_api_key=API_KEY)
    heard = []

    @bot.message_handler()
    def echo(message):
        heard.append(message.message)
        keyboard = InlineKeyboardMarkup().row(
            InlineKeyboardButton("دیوار", OpenDirectLink("https://example.invalid/divar"))
        )
        bot.send_message(message.conversation_id, f"شما گفتید: {message.message}", keyboard)

    server = make_server("127.0.0.1", sim.events_port, bot, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield heard
    server.shutdown()


def test_an_echo_bot_answers_a_message_typed_in_the_bot_pane(sim, echo_bot):
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
