"""A kenarbot echo bot, as someone writing for real Divar would write it: every text message
is answered with «شما گفتید: …» and one link button (no icon: kenarbot sends "None").

Imported by test_kenarbot.py; run on its own (by tests/e2e/kenarbot_pane.test.mjs) as
    python echo_bot.py --divar BASE --port PORT --api-key KEY --identification-key KEY
it serves the webhook on 127.0.0.1:PORT/webhook and prints "echo-bot ready" once listening.
"""

import argparse
import sys

import kenarBot.app
from kenarBot.app import KenarBot
from kenarBot.types.actions import OpenDirectLink
from kenarBot.types.inline_keyboard import InlineKeyboardButton, InlineKeyboardMarkup


def make_bot(divar_base, api_key, identification_key, heard=None):
    # kenarbot has Divar's address as a module constant; point it at the simulator.
    kenarBot.app.BASE_URL = divar_base
    bot = KenarBot(divar_identification_key=identification_key, webhook_url="/webhook", x_api_key=api_key)

    @bot.message_handler()
    def echo(message):
        if heard is not None:
            heard.append(message.message)
        keyboard = InlineKeyboardMarkup().row(
            InlineKeyboardButton("دیوار", OpenDirectLink("https://example.invalid/divar"))
        )
        bot.send_message(message.conversation_id, f"شما گفتید: {message.message}", keyboard)

    return bot


def main():
    from werkzeug.serving import make_server

    p = argparse.ArgumentParser()
    p.add_argument("--divar", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--identification-key", required=True)
    a = p.parse_args()
    server = make_server("127.0.0.1", a.port, make_bot(a.divar, a.api_key, a.identification_key), threaded=True)
    print("echo-bot ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
