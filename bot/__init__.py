"""Aiguillage: routes citizens' questions (chat and phone) to the right place.

Layers, each importing only those below it (import-linter contracts in pyproject.toml):
cli -> web -> quality, nlu -> services -> store -> core. settings.py reads the environment.
"""
