"""The telephone voice menu (SVI) on Twilio, on the same routing tree as the chat.

- channel.py   the Rasa input channel (`/webhooks/ivr/...`, registered in credentials.yml): the
               route table, the signature check, never a 500
- call_hooks.py    the webhooks of a call in progress (incoming call, Gather answers, transfer end)
- record_hooks.py  the webhooks that keep what Twilio reports (voicemail, recording, status)
- phone.py     what the webhooks share: settings, flow, the store threads, SMS, clock, NLU
- form.py      Twilio's POST parameters as signed; TwiML responses
- desks.py     the PAN booking and the rating, as the flow may use them for one request
- menu.py      the phone's menu: the tree regrouped for callers (five topics and 0, tree `phone.menu`)
- state.py     the call's state and one input (pure data)
- flow.py      the call state machine: state + keypad/speech input -> new state + TwiML
               (flow_pan.py: its PAN booking and cancellation)
- twiml.py     pure TwiML builders (twilio's VoiceResponse): menus, leaves, voicemail, transfer;
               voice.py (the words, hints, URLs), options.py (the keys of each prompt) and
               pan_prompts.py (the PAN prompts) are its parts
- calls.py     call state, call records and voicemails in the SQLite store
- signature.py X-Twilio-Signature checking and the channel's token configuration
- hours.py     is the préfecture standard (or another line) open now (Europe/Paris, French public
               holidays, the préfecture's closure days)

The call simulator, Twilio's request bodies and the mystery-call audit are developer tools, in
tools/ivr/ (the product imports none of them).

Nothing the caller hears is written here: every text comes from bot/tree.yml (`phone:` section,
node `voice` answers) and the préfecture files.
"""
