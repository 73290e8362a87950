"""The telephone voice menu (SVI) on Twilio, on the same routing tree as the chat.

- channel.py   the Rasa input channel (`/webhooks/ivr/...`), registered in credentials.yml
- menu.py      the phone's menu: the tree regrouped for callers (five topics and 0, tree `phone.menu`)
- flow.py      the call state machine: state + keypad/speech input -> new state + TwiML
- twiml.py     pure TwiML builders (twilio's VoiceResponse): menus, leaves, voicemail, transfer
- calls.py     call state, call records and voicemails in the SQLite store
- signature.py X-Twilio-Signature checking and the channel's token configuration
- hours.py     is the préfecture standard (or another line) open now (Europe/Paris, French public
               holidays, the préfecture's closure days)

The call simulator, Twilio's request bodies and the mystery-call audit are developer tools, in
tools/ivr/ (the product imports none of them).

Nothing the caller hears is written here: every text comes from bot/tree.yml (`phone:` section,
node `voice` answers) and the préfecture files.
"""
