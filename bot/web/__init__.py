"""HTTP channels served by Rasa's Sanic server: the chat (/chat), the PAN booking (/rdv),
the agents' console (/console)."""
