"""Rasa custom actions. Thin: the routing logic lives in bot/ (no rasa_sdk import there)."""
