"""What the survivors in the flow tests write, per language.

Every phrase the assistant must understand (``shelter``, ``legal``, ``privacy``, ``human``, ``bot``,
``yes``) is an exact training example of data/nlu, so the fake Rasa (tests/fakes/rasa.py) knows it
for certain and the integration tests do not depend on a model's guess. ``hello`` needs no
understanding (a new conversation always opens with the first contact), and crisis, exit and
delete are answered by the safety layer before any model. How the real model understands phrases
it was never trained on is tested in tests/e2e (``HELD_OUT`` and ``NONSENSE`` there).
"""

from __future__ import annotations

import re

LANGS = ["en", "es", "pt", "fr"]
SAY = {
    "en": {
        "hello": "hello",
        "crisis": "help they locked me in the room",
        "self_harm": "i want to kill myself",
        "shelter": "i need a place to sleep",
        "legal": "i need a lawyer",
        "privacy": "who can see my messages",
        "human": "i want to talk to a person",
        "bot": "are you a bot",
        "yes": "yes",
        "exit": "EXIT",
        "delete": "DELETE",
    },
    "es": {
        "hello": "hola",
        "crisis": "ayuda me tienen encerrada en el cuarto",
        "self_harm": "me quiero matar",
        "shelter": "necesito un lugar donde quedarme",
        "legal": "necesito un abogado",
        "privacy": "quien lee esto?",
        "human": "quiero hablar con una persona",
        "bot": "eres un bot?",
        "yes": "si",
        "exit": "SALIR",
        "delete": "BORRAR",
    },
    "pt": {
        "hello": "oi",
        "crisis": "socorro me trancaram no quarto",
        "self_harm": "quero me matar",
        "shelter": "preciso de um lugar pra ficar",
        "legal": "preciso de advogado",
        "privacy": "quem le isso?",
        "human": "quero falar com uma pessoa",
        "bot": "vc é robo?",
        "yes": "sim",
        "exit": "SAIR",
        "delete": "APAGAR",
    },
    "fr": {
        "hello": "bonjour",
        "crisis": "au secours ils m'ont enfermée dans la chambre",
        "self_harm": "je veux me suicider",
        "shelter": "je dors dehors",
        "legal": "besoin d un avocat",
        "privacy": "qui lit mes messages",
        "human": "je veux parler a une personne",
        "bot": "t es un robot?",
        "yes": "oui",
        "exit": "QUITTER",
        "delete": "SUPPRIMER",
    },
}
COUNTRY = {"en": "US", "es": "MX", "pt": "BR", "fr": "HT"}
EMERGENCY = {"US": "911", "MX": "911", "BR": "190", "HT": "122"}
# Self-harm: the health number before the police (Brazil: SAMU 192, not the military police 190).
HEALTH_EMERGENCY = {"US": "911", "MX": "911", "BR": "192", "HT": "122"}
# The country's suicide or crisis line, given first in a self-harm reply (Haiti has none listed).
CRISIS_LINE = {"US": "988", "MX": "800 911 2000", "BR": "188"}
# The first line of every crisis and self-harm reply: warm, and neutral on a lock screen.
WARM = {"en": "I'm here.", "es": "Aquí estoy.", "pt": "Estou aqui.", "fr": "Je suis là."}
NUMBER = re.compile(r"\d{3}")
