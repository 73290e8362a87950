"""Developer tools of the phone channel (the product imports none of them):

- simulate.py       a call simulator (terminal and tests) playing Twilio against the real webhooks
- twilio_bodies.py  the complete request bodies Twilio sends (tests/fixtures/twilio/), for the
                    simulator, the audit and the tests
- audit.py          `python -m tools.ivr audit SCENARIOS.yml`: scripted mystery calls, pass/fail table
- scenarios/        the mystery calls of each préfecture

Run as `python -m tools.ivr simulate` or `python -m tools.ivr audit tools/ivr/scenarios/cantal.yml`.
"""
