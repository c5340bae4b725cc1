"""The languages the assistant speaks, declared once.

Each entry says what the code needs to know about a language. Adding one is this entry plus its
texts and data, which a test checks exist for every language here (tests/test_registries.py):
the catalogs ``locales/<code>/LC_MESSAGES/{messages,console}.po``, the training data
``data/nlu/<code>/`` and held-out split ``data/heldout/<code>.yml``, the crisis and self-harm
lexicons ``bot/safety/lexicons/<code>/``, the safety test set ``eval/safety/<code>.yml``, the
control-command keywords (``bot/safety/commands.py``) and the writing checks
(``bot/nlg/lint.py``). docs/architecture.md walks through it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, as in the catalogs and BOT_LANGUAGES
    native_name: str  # how the language calls itself: on the language buttons
    lingua: str  # the name of lingua's ``Language`` member (the detector)
    whatsapp: str  # the language code of WhatsApp's message templates
    # Names a person may type to ask for it (folded: lower case, no accents), in any language.
    typed_names: tuple[str, ...]
    # Where people writing it most likely are, most likely first (country questions, numbers).
    likely_countries: tuple[str, ...]
    # Whole messages too short for the detector that still say which language this is (folded):
    # a first guess for a new conversation, never enough to switch an ongoing one.
    short_words: tuple[str, ...] = ()
    # Words that turn from an aside to what the person asks, at the start of a clause (folded):
    # "lol my cousin says she'll kill me 😂 anyway, hi!" (bot/conversation/aside.py).
    turns: tuple[str, ...] = ()


LANGUAGES: tuple[Language, ...] = (
    Language(
        "en",
        "English",
        "ENGLISH",
        "en",
        ("english", "ingles", "anglais", "in english", "en ingles"),
        ("US", "CA", "JM"),
        (
            *("hi", "hello", "hey", "help", "good morning", "good evening"),
            *("thanks", "thank you", "thx", "ty", "tysm", "bye", "ttyl", "gtg", "yeah", "yep"),
            *("nope", "please", "pls", "plz"),
        ),
        (
            "anyway",
            "anyways",
            "btw",
            "but seriously",
            "seriously though",
            "ok serious question",
            "on a serious note",
            "jk",
            "just kidding",
            "kidding",
        ),
    ),
    Language(
        "es",
        "Español",
        "SPANISH",
        "es",
        ("espanol", "spanish", "espagnol", "castellano", "en espanol", "em espanhol", "espanhol"),
        ("MX", "CO", "US", "PE", "AR", "GT", "CL"),
        (
            *("hola", "buenas", "buenos dias", "buenas tardes", "buenas noches", "ayuda"),
            *("gracias", "grax", "grs", "muchas gracias", "chao", "chau", "dale", "nel", "sip"),
            *("vale", "porfa", "orale", "simon", "ya estuvo", "adios"),
        ),
        (
            "bueno",
            "oye",
            "en fin",
            "pero en serio",
            "ya en serio",
            "por cierto",
            "mentira",
            "es broma",
        ),
    ),
    Language(
        "pt",
        "Português",
        "PORTUGUESE",
        "pt_BR",
        ("portugues", "portuguese", "portugais", "em portugues", "en portugues"),
        ("BR",),
        (
            *("oi", "ola", "bom dia", "boa tarde", "boa noite", "ajuda"),
            *("obrigado", "obrigada", "obg", "brigado", "brigada", "vlw", "valeu", "tchau"),
            *("tmj", "blz", "beleza", "sim", "nao", "pfv", "pfvr"),
        ),
        ("enfim", "mas serio", "mas falando serio", "fala serio", "alias", "brincadeira"),
    ),
    Language(
        "fr",
        "Français",
        "FRENCH",
        "fr",
        ("francais", "french", "frances", "en francais", "in french", "em frances"),
        ("HT", "CA"),
        (
            *("bonjour", "bonsoir", "salut", "slt", "allo", "aide", "au secours"),
            *("merci", "mrc", "merci beaucoup", "oui", "ouais", "non", "svp", "stp", "mesi"),
            *("d'accord", "dac", "a plus", "bonne nuit"),
        ),
        (
            "bref",
            "bon",
            "enfin",
            "par contre",
            "sinon",
            "mais serieusement",
            "je rigole",
            "blague a part",
        ),
    ),
)

BY_CODE: dict[str, Language] = {language.code: language for language in LANGUAGES}
CODES: tuple[str, ...] = tuple(BY_CODE)
NATIVE_NAMES: dict[str, str] = {code: lang.native_name for code, lang in BY_CODE.items()}
