"""The agent console: review what the bot could not resolve (chat and phone) and teach it.

- auth.py: agent accounts (argon2 hashes), server-side sessions, CSRF tokens
- queue.py: the queue of unresolved items, transcripts, reviews and the audit log
- export.py: labelled sentences -> data/nlu_review.yml; the retrain gate
- channel.py: the Rasa InputChannel serving the pages under /console
"""
