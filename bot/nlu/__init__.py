"""Rasa: the custom NLU components, model loading, evaluation, eval sets, the review export
and retrain gate, and the patches to Rasa 3.6.21."""
