"""The telephone voice menu (SVI) on Twilio, on the same routing tree as the chat.

- channel.py   the Rasa input channel (`/webhooks/ivr/...`), registered in credentials.yml
- menu.py      the phone's menu: the tree regrouped for callers (five topics and 0, tree `phone.menu`)
- flow.py      the call state machine: state + keypad/speech input -> new state + TwiML
- twiml.py     pure TwiML builders (twilio's VoiceResponse): menus, leaves, voicemail, transfer
- calls.py     call state, call records and voicemails in the SQLite store
- signature.py X-Twilio-Signature checking and the channel's token configuration
- hours.py     is the préfecture standard (or another line) open now (Europe/Paris, French public
               holidays, the préfecture's closure days)
- simulate.py  a call simulator (terminal and tests) against the real webhooks
- twilio_bodies.py  the complete request bodies Twilio sends (tests/fixtures/twilio/), for the
               simulator, the audit and the tests (the channel never reads them)
- audit.py     `python -m ivr audit SCENARIOS.yml`: scripted mystery calls, pass/fail table

Nothing the caller hears is written here: every text comes from bot/tree.yml (`phone:` section,
node `voice` answers) and the préfecture files.
"""
