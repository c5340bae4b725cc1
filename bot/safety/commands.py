"""Control commands that work in every state, matched exactly (the whole message, folded).

Each command has a keyword per language (safety-requirements D6); typed with or without accents,
in any case, with or without a leading slash. The exit words are configurable per deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.languages import LANGUAGES
from bot.safety.text import fold_command


class Command(StrEnum):
    EXIT = "exit"
    DELETE = "delete"
    PERSON = "person"
    LANGUAGE = "language"
    MENU = "menu"
    PRIVACY = "privacy"
    BACK = "back"
    STOP = "stop"
    PAUSE = "pause"


# The first keyword of each language is the one the assistant tells people to type.
KEYWORDS: dict[Command, dict[str, tuple[str, ...]]] = {
    Command.EXIT: {"en": ("exit",), "es": ("salir",), "pt": ("sair",), "fr": ("quitter",)},
    Command.DELETE: {
        "en": ("delete", "delete my data", "erase"),
        "es": ("borrar", "borrar mis datos", "borrar todo"),
        "pt": ("apagar", "apagar meus dados", "apagar tudo"),
        "fr": ("supprimer", "supprimer mes donnees", "effacer"),
    },
    Command.PERSON: {
        "en": ("person", "human"),
        "es": ("persona", "humano"),
        "pt": ("pessoa", "humano"),
        "fr": ("personne", "humain"),
    },
    Command.LANGUAGE: {
        "en": ("language",),
        "es": ("idioma", "lengua"),
        "pt": ("idioma", "lingua"),
        "fr": ("langue",),
    },
    Command.MENU: {
        # Not "help"/"ayuda"/"socorro": alone, those may be a cry for help; the lexicons decide.
        "en": ("menu", "start"),
        "es": ("menu", "inicio"),
        "pt": ("menu", "inicio"),
        "fr": ("menu", "accueil"),
    },
    Command.PRIVACY: {
        "en": ("privacy",),
        "es": ("privacidad",),
        "pt": ("privacidade",),
        "fr": ("confidentialite", "vie privee"),
    },
    Command.BACK: {"en": ("back",), "es": ("volver",), "pt": ("voltar",), "fr": ("retour",)},
    Command.STOP: {"en": ("stop",), "es": ("parar",), "pt": ("parar",), "fr": ("arreter",)},
    Command.PAUSE: {"en": ("pause",), "es": ("pausa",), "pt": ("pausa",), "fr": ("pause",)},
}

# Typing a language's own name (or its name in another of our languages) switches to it.
LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {lang.code: lang.typed_names for lang in LANGUAGES}


# A typed yes or no to the last question, matched on the whole message (folded, any of our
# languages): what answers a confirmation never depends on a model's reading.
YES_WORDS: frozenset[str] = frozenset(
    {
        *("yes", "y", "yeah", "yep", "yes please", "ok", "okay", "sure"),
        *("si", "si por favor", "claro", "dale", "sip", "va", "de acuerdo", "esta bien"),
        *("sim", "s", "pode", "pode sim", "claro que sim", "beleza", "ta bom", "tudo bem"),
        *("oui", "ouais", "wi", "d'accord", "daccord", "oui merci", "ok merci"),
    }
)
NO_WORDS: frozenset[str] = frozenset(
    {
        *("no", "nope", "n", "not now", "no thanks", "no thank you"),
        *("nel", "no gracias", "ahora no", "todavia no"),
        *("nao", "nao obrigado", "nao obrigada", "agora nao", "ainda nao"),
        *("non", "non merci", "pas maintenant", "pas encore"),
    }
)


def yes_or_no(text: str) -> str | None:
    """ "yes" or "no" when the whole message is one of those words, else None."""
    folded = fold_command(text).strip(" .!")
    if folded in YES_WORDS:
        return "yes"
    if folded in NO_WORDS:
        return "no"
    return None


@dataclass(frozen=True)
class CommandHit:
    command: Command
    language: str | None  # the language whose keyword was typed, when only one has it
    choose_language: str | None = None  # set when the message named a language


class CommandMatcher:
    """Built-in keywords, the deployment's extra exit words (``BOT_EXIT_WORDS``, any language)
    and the admins' extra exit words per language (never replacing another command's word)."""

    def __init__(
        self,
        extra_exit_words: list[str] | None = None,
        exit_words_by_language: dict[str, list[str]] | None = None,
    ) -> None:
        self._table: dict[str, tuple[Command, set[str]]] = {}
        for command, per_lang in KEYWORDS.items():
            for lang, words in per_lang.items():
                for word in words:
                    self._add(word, command, lang)
        for word in extra_exit_words or []:
            if fold_command(word):
                self._add(word, Command.EXIT, None)
        for lang, added in (exit_words_by_language or {}).items():
            for word in added:
                taken = self._table.get(fold_command(word))
                if fold_command(word) and (taken is None or taken[0] is Command.EXIT):
                    self._add(word, Command.EXIT, lang)
        self._names = {
            fold_command(name): lang for lang, names in LANGUAGE_NAMES.items() for name in names
        }

    def _add(self, word: str, command: Command, lang: str | None) -> None:
        key = fold_command(word)
        existing = self._table.get(key)
        langs = set(existing[1]) if existing and existing[0] == command else set()
        if lang:
            langs.add(lang)
        self._table[key] = (command, langs)

    def match(self, text: str) -> CommandHit | None:
        key = fold_command(text.lstrip("/"))
        if not key:
            return None
        if key in self._names:
            return CommandHit(Command.LANGUAGE, None, choose_language=self._names[key])
        found = self._table.get(key)
        if found is None:
            return None
        command, langs = found
        return CommandHit(command, next(iter(langs)) if len(langs) == 1 else None)

    def taken(self, text: str) -> Command | None:
        """The command (or LANGUAGE, for a language's name) a whole message already means."""
        key = fold_command(text.lstrip("/"))
        if key in self._names:
            return Command.LANGUAGE
        found = self._table.get(key)
        return found[0] if found else None

    @staticmethod
    def keyword(command: Command, language: str) -> str:
        return KEYWORDS[command].get(language, KEYWORDS[command]["en"])[0].upper()


def builtin_exit_words(language: str) -> tuple[str, ...]:
    """The exit words that cannot be removed: the first is the one survivors are told to send."""
    return KEYWORDS[Command.EXIT].get(language, ())
