"""The crisis decision of the deterministic screen reads what, in which language, when and how,
and whose danger it is (bot/safety/screen.py, context.py, lexicon.py), in every language.

These sentences were written for these tests, not taken from the independent evaluation set.
"""

from __future__ import annotations

import pytest

from bot.needs import CRISIS_INTENTS
from bot.rasa.client import Parse
from bot.safety.context import Marker, laughter, negated, set_aside
from bot.safety.screen import SafetyScreen

LANGS = ["en", "es", "pt", "fr"]


# Someone else in danger now: a crisis, in the wording for someone asking on another's behalf.
OTHERS = [
    ("en", "some men took my daughter and she is not answering her phone"),
    ("en", "my little sister is with a man who won't let her come home"),
    ("es", "se llevaron a mi hija de 13 años y no contesta"),
    ("es", "mi hermanita está con un hombre que no la deja volver a casa"),
    ("pt", "levaram minha filha de 13 anos e ela não atende"),
    ("pt", "minha irmã tá com um homem que não deixa ela voltar pra casa"),
    ("fr", "des hommes ont enlevé ma fille de 13 ans et elle ne répond pas"),
    ("fr", "ma petite soeur est avec un homme qui ne la laisse pas rentrer"),
    # A child made to go with men for money, told by an adult who found out.
    ("en", "one of my students told me her uncle makes her do things with men for money"),
    ("es", "mi vecina de 12 años me contó que su padrastro la obliga a estar con hombres"),
    ("pt", "a menina da casa ao lado disse que o tio faz ela ficar com homens por dinheiro"),
    ("fr", "ma nièce m'a dit que son copain la fait coucher avec des hommes pour de l'argent"),
]
# The writer's own danger now: watched constantly, shut in a vehicle, threatened.
OWN = [
    ("en", "he watches me all the time, I can only write while he sleeps"),
    ("es", "me vigila todo el tiempo, solo puedo escribir cuando duerme"),
    ("pt", "ele me vigia o tempo todo, só consigo escrever quando ele dorme"),
    ("fr", "il me surveille tout le temps, je peux écrire seulement quand il dort"),
    ("en", "we are locked in the back of a truck and there is no air"),
    ("es", "estamos encerrados en un camión y no hay aire"),
    ("pt", "estamos trancados num caminhão e não tem ar"),
    ("fr", "on est enfermés dans un camion et il n'y a pas d'air"),
    ("en", "they will kill me"),
    ("es", "me van a matar"),
    ("pt", "vão me matar"),
    ("fr", "ils vont me tuer"),
]
# A past told from safety, a joke, an idiom: not a crisis on the lexicons alone.
SET_ASIDE = [
    ("en", "they kept me locked up years ago, I'm out now and want to press charges", "past"),
    ("es", "hace dos años me tenían encerrada, ya salí y quiero denunciar", "past"),
    ("fr", "il y a des années ils m'enfermaient, maintenant je suis en sécurité", "past"),
    ("pt", "me machucaram muito lá, agora tô longe deles", "safe_now"),
    ("fr", "ils me frappaient, je suis loin d'eux maintenant", "safe_now"),
    ("en", "my boss will kill me if I'm late again lol", "joke"),
    ("pt", "meu chefe vai me matar se eu chegar atrasada de novo kkkk", "joke"),
    ("fr", "mon boss va me tuer si je suis encore en retard mdr", "joke"),
]
IDIOMS = [
    ("pt", "esse calor ta me matando"),
    ("es", "me muero de risa con este video"),
    ("fr", "je suis morte de rire"),
    ("en", "my back is killing me"),
    # A typo never changes a word's first letter: "rendre" is not "pendre" (to hang).
    ("fr", "je vais me rendre à l'ambassade demain"),
]
# The present, in the clause of the risky words, keeps the crisis whatever the past says.
PRESENT = [
    # Being chased is the present, whatever escape came before. The French line was fr-0005 of
    # eval/independent (moved here on 2026-12-04 when the pursuit markers were completed).
    (
        "fr",
        "jai reussi a m'echapper de la maison ils me courent apres "
        "je suis dans une station essence",
    ),
    ("pt", "consegui fugir da casa mas eles tão atrás de mim"),
    ("es", "me escapé de la casa, me tenían encerrada y vienen detrás de mí"),
    ("en", "i got out of the house but the men who locked me in are coming after me"),
    ("en", "years ago they locked me in and now they locked me in again"),
    ("es", "hace años me encerraron y ahora me tienen encerrada otra vez"),
    ("pt", "fugi há anos mas ele me achou e disse que vai me matar hoje"),
    ("fr", "il y a des années ils m'ont enfermée et maintenant ils m'enferment encore"),
    ("en", "I escaped years ago but he found me, he says he will kill me tonight"),
]


@pytest.mark.parametrize(("lang", "text"), OTHERS)
def test_someone_else_in_danger_is_a_crisis_with_its_own_wording(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis and found.kind == "others", found.reason


@pytest.mark.parametrize(("lang", "text"), OWN)
def test_own_danger_now_is_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    found = screen.screen(text, lang)
    assert found.crisis and found.kind == "self", found.reason


@pytest.mark.parametrize(("lang", "text", "why"), SET_ASIDE)
def test_past_and_jokes_are_set_aside_for_the_model(
    screen: SafetyScreen, lang: str, text: str, why: str
) -> None:
    found = screen.screen(text, lang)
    assert found.matches and not found.crisis
    assert found.set_aside == why and f"(set aside: {why})" in found.reason


@pytest.mark.parametrize(("lang", "text"), IDIOMS)
def test_idioms_are_not_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    assert not screen.screen(text, lang).crisis


@pytest.mark.parametrize(("lang", "text"), PRESENT)
def test_the_present_keeps_the_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    found = screen.screen(text, lang)
    assert found.crisis, found.reason


def test_lexicons_read_only_the_languages_of_the_message(screen: SafetyScreen) -> None:
    # Spanish "me mato" (I kill myself) is everyday Portuguese ("it kills me"): a clearly
    # Portuguese message is not read with the Spanish lexicon; a Spanish one is.
    assert screen.languages_of("esse calor ta me matando", "pt") == ["pt"]
    spanish = screen.screen("ya no aguanto más, me mato", "es")
    assert spanish.crisis and spanish.kind == "self_harm"
    # Too short to guess: every lexicon reads it.
    assert screen.languages_of("socorro!!") == LANGS


def test_laughter_is_found_in_every_language_and_never_in_words() -> None:
    for text in ("jajaja", "hahaha", "kkkkk", "rsrsrs", "mdr", "ptdr", "lol", "jsjsjs", "😂", "😹"):
        assert laughter(f"ok {text}"), text
    for text in ("tienen a mi hija", "hijo", "hoje", "jeito", "aja", "ha"):
        assert not laughter(text), text


def test_a_present_marker_inside_a_safe_phrase_does_not_count() -> None:
    text = "they hit me years ago, I am safe now"
    safe = Marker("safe_now", "en", "i am safe now", 27, 40)
    now = Marker("present", "en", "now", 37, 40)
    past = Marker("past", "en", "years ago", 11, 20)
    assert set_aside([past, safe, now], [(5, 11)], text) == "past"
    # In another clause than the risky words, "now" speaks of that clause only.
    other = "they hit me years ago, now I want to report it"
    assert set_aside([past, Marker("present", "en", "now", 23, 26)], [(5, 11)], other) == "past"
    assert set_aside([past, Marker("present", "en", "now", 23, 26)], None, other) is None


NOT_SAFE = [
    ("en", "they locked me in the room again, I am not safe now"),
    ("pt", "me trancaram no quarto, não estou a salvo"),
    ("es", "me tienen encerrada, ya no estoy a salvo"),
]


@pytest.mark.parametrize(("lang", "text"), NOT_SAFE)
def test_a_negated_safe_phrase_does_not_set_the_crisis_aside(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis, found.reason


def test_negation_reaches_a_few_words_back() -> None:
    assert negated("I am not safe now", 9) and negated("não estou a salvo", 4)
    assert not negated("I am safe now", 0) and not negated("years ago, now I'm safe", 15)


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("es", "no es broma, me tienen encerrada"),
        ("en", "this is not a joke, they locked me in"),
        ("pt", "não é brincadeira, vão me matar"),
    ],
)
def test_a_denied_joke_is_no_joke(screen: SafetyScreen, lang: str, text: str) -> None:
    assert screen.screen(text, lang).crisis


def test_the_models_crisis_share_adds_emergency_and_self_harm() -> None:
    parse = Parse(
        "need_labour", 0.4, [("need_labour", 0.4), ("emergency", 0.35), ("self_harm", 0.2)]
    )
    assert parse.share(CRISIS_INTENTS) == pytest.approx(0.55)
    # Scores that are not a distribution (a similarity reader) count as shares of their sum.
    scores = Parse("greet", 0.9, [("greet", 0.9), ("emergency", 0.6), ("self_harm", 0.5)])
    assert scores.share(CRISIS_INTENTS) == pytest.approx(0.55)


# Context markers match words as written: a lemma or a typo would lose the tense they carry.
NOT_MARKERS = [
    ("es", "necesito que me rescaten ya, me tienen encerrada", "safe_now"),  # not "me rescataron"
    ("en", "they said if i escape they will find me and kill me", "safe_now"),  # not "i escaped"
    ("es", "duermo en el piso de la cocina y no me dejan salir", "past"),  # not "en el pasado"
    ("es", "el man dice que ya pago por mi y no me deja ir", "past"),  # not "ya pasó"
]


@pytest.mark.parametrize(("lang", "text", "name"), NOT_MARKERS)
def test_markers_keep_their_tense(screen: SafetyScreen, lang: str, text: str, name: str) -> None:
    reading = screen.lexicons.read(text, [lang])
    assert name not in {m.name for m in reading.around}


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "since i escaped i feel empty and every night i think about ending my life"),
        ("es", "desde que me escapé pienso en quitarme la vida todas las noches"),
    ],
)
def test_being_safe_now_does_not_set_self_harm_aside(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis and found.kind == "self_harm", found.reason


def test_a_risky_phrase_reaching_into_a_present_clause_stays_a_crisis(
    screen: SafetyScreen,
) -> None:
    found = screen.screen("je me suis echappee et ils me cherchent dans la rue", "fr")
    assert found.crisis, found.reason


# No risky phrase stands, but the words place the message in the past, a joke or an idiom: the
# model must be surer (BOT_CRISIS_THRESHOLD_IN_CONTEXT). The present keeps the ordinary bar.
TEMPERED = [
    ("en", "I could die of shame, I forgot her name", "idiom"),
    ("es", "vamos a matar el tiempo viendo una peli", "idiom"),
    ("en", "my boss will kill me if I'm late again lol", "joke"),
    ("pt", "consegui fugir faz dois anos e quero denunciar o homem que me vendeu", "past"),
]
NOT_TEMPERED = [
    ("en", "the lady says my mother back home will pay if i talk"),
    ("es", "hace años me encerraron y ahora me tienen encerrada otra vez"),
    ("en", "they keep me in the house and I cannot leave"),
]


@pytest.mark.parametrize(("lang", "text", "why"), TEMPERED)
def test_context_tempers_the_models_reading(
    screen: SafetyScreen, lang: str, text: str, why: str
) -> None:
    found = screen.screen(text, lang)
    assert not found.crisis and found.tempered == why


@pytest.mark.parametrize(("lang", "text"), NOT_TEMPERED)
def test_no_context_or_the_present_keeps_the_ordinary_bar(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    assert screen.screen(text, lang).tempered is None


# A hypothesis ("what if", "si algún día", "se um dia", "et si un jour") before a risky phrase in
# its own sentence: a worry about what could happen, set aside for the model (as a condition).
HYPOTHESES = [
    ("en", "what if the boss locked me in the room?"),
    ("es", "si algún día me encierran, a qué número llamo?"),
    ("pt", "e se ele me trancar no quarto?"),
    ("pt", "se um dia eles me trancarem, pra quem eu ligo?"),
    ("fr", "et si un jour ils m'enferment, j'appelle qui?"),
]
# The same words after the fact, or with the present: still a crisis.
NOT_HYPOTHESES = [
    ("en", "they locked me in the room. what if he comes back?"),
    ("en", "what if they locked me in right now"),
    ("es", "me tienen encerrada y si grito me pegan"),
    ("pt", "me trancaram no quarto. e se ele voltar?"),
    ("fr", "ils m'ont enfermée dans la chambre. et si il revient?"),
]


@pytest.mark.parametrize(("lang", "text"), HYPOTHESES)
def test_a_hypothesis_sets_aside_what_follows_it(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.matches and not found.crisis
    assert found.set_aside == "conditional"


@pytest.mark.parametrize(("lang", "text"), NOT_HYPOTHESES)
def test_a_hypothesis_after_the_fact_or_with_the_present_keeps_the_crisis(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis, found.reason


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "in case something happens to me, they locked me in room 12"),
        ("en", "what if i just killed myself"),
        ("pt", "e se eu me matar?"),
        ("es", "y si me mato?"),
    ],
)
def test_a_hypothesis_never_hides_danger_after_a_comma_or_a_wish_to_die(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis, found.reason


def test_a_hypothesis_alone_leaves_the_models_bar_as_it_is(screen: SafetyScreen) -> None:
    """ "e se eu sumisse?" may be a wish to die: only a risky phrase after it is set aside."""
    assert screen.screen("e se eu sumisse de vez?", "pt").tempered is None


@pytest.mark.parametrize(
    ("lang", "text", "crisis"),
    [
        # A cry for help right next to laughter is part of the joke...
        ("pt", "minha vó me sequestrou pra ir no culto de domingo, socorro kkkk", False),
        ("en", "my sis says shes being held hostage by her toddler 😂 send help", False),
        # ...without laughter, or with laughter further away, it is the present.
        ("pt", "me sequestraram socorro", True),
        ("pt", "socorro, ele disse que vai me matar kkkk", True),
        ("en", "they locked me in please help", True),
    ],
)
def test_a_cry_for_help_is_the_present_unless_laughter_is_next_to_it(
    screen: SafetyScreen, lang: str, text: str, crisis: bool
) -> None:
    assert screen.screen(text, lang).crisis is crisis


@pytest.mark.parametrize(
    ("lang", "text", "crisis"),
    [
        ("pt", "Não estou em perigo, só quero minha carteira de trabalho de volta", False),
        ("es", "no corro peligro, solo quiero cobrar lo que me deben", False),
        ("en", "im not in danger now i just want my wages", False),
        ("pt", "estou em perigo", True),
        ("en", "i am in danger now", True),
        ("en", "im not in danger now but they locked me in", True),
    ],
)
def test_danger_denied_is_not_danger(
    screen: SafetyScreen, lang: str, text: str, crisis: bool
) -> None:
    assert screen.screen(text, lang).crisis is crisis


# Text-message spellings are read as the words they stand for, in phrases and markers alike.
@pytest.mark.parametrize(
    ("lang", "text", "crisis"),
    [
        ("en", "my knees r killing me after that shift", False),  # the idiom, written short
        ("en", "they r outside the door rn, he has a gun", True),
        ("pt", "n consigo sair daqui, eles trancaram a porta agr", True),
        ("fr", "jsuis enfermée ds la cave mtn", True),
        ("es", "toy encerrada y no me dejan salir", True),
    ],
)
def test_text_message_spellings_read_as_the_words_they_stand_for(
    screen: SafetyScreen, lang: str, text: str, crisis: bool
) -> None:
    assert screen.screen(text, lang).crisis is crisis, screen.screen(text, lang).reason


def test_a_short_form_keeps_the_offsets_of_what_was_written(screen: SafetyScreen) -> None:
    found = screen.lexicons.read("they r here rn, they locked me in", ["en"])
    assert found.matches and found.set_aside is None
    # "rn" is read as "right now" but spans the two letters written.
    present = [m for m in found.markers if m.name == "present" and m.phrase == "right now"]
    assert present and "they r here rn"[present[0].start : present[0].end] == "rn"


# Signs of forced labour: one alone is a hardship, two together (one of them strong) are a
# crisis even with no word of danger; told from the past or from safety they are set aside.
@pytest.mark.parametrize(
    ("lang", "text", "signs"),
    [
        (
            "en",
            "the lady keeps my passport and says i owe her more every month",
            "documents + debt",
        ),
        (
            "es",
            "me dijeron que era para cuidar niños pero no es eso, y se quedan con mi sueldo",
            "deceived + unpaid",
        ),
        ("pt", "ficaram com meus documentos e não me pagam faz três meses", "documents + unpaid"),
        (
            "fr",
            "ils lisent mes messages et je connais personne dans cette ville",
            "watched + isolated",
        ),
        # A wage in scrip or a company store, a gate locked at night, food charged to the debt.
        (
            "en",
            "my employer locks the gate at night and i never had a day off",
            "confined + overworked",
        ),
        ("es", "nos cobran la comida y no he visto un peso en dos meses", "debt + unpaid"),
        (
            "pt",
            "trancam o portão toda noite e a gente só compra na venda do patrão",
            "debt + confined",
        ),
        ("fr", "on est payés en bons et la dette baisse jamais", "debt + unpaid"),
    ],
)
def test_signs_of_forced_labour_together_are_a_crisis(
    screen: SafetyScreen, lang: str, text: str, signs: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis and f"indicators: {signs}" in found.reason, found.reason


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "my boss doesnt pay me overtime and i work 16 hours some days"),  # both weak
        ("es", "mi patrón tiene mi pasaporte para el trámite de la visa"),  # one sign alone
        ("pt", "anos atrás ficaram com meus documentos e eu devia pra eles, hoje estou livre"),
    ],
)
def test_one_sign_weak_signs_or_signs_told_from_safety_are_not(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert not any(m.phrase.startswith("indicators:") for m in found.matches) or found.set_aside


def test_signs_together_never_outweigh_a_wish_to_die(screen: SafetyScreen) -> None:
    found = screen.screen("they took my passport and i owe them, i want to kill myself", "en")
    assert found.crisis and found.kind == "self_harm", found.reason


# A worry about what may happen asks the model to be surer; it never sets a risky phrase aside.
@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "a guy online offered my niece a modelling job abroad, is this a scam?"),
        ("es", "me ofrecen trabajo en otro país con todo pagado, podría ser una trampa?"),
        ("pt", "minha prima recebeu proposta de emprego na Europa, ainda não foi. pode ser golpe?"),
        ("fr", "on m'offre un poste de nounou logée à Toronto, je n'ai encore rien signé"),
    ],
)
def test_a_worry_raises_the_models_bar(screen: SafetyScreen, lang: str, text: str) -> None:
    assert screen.screen(text, lang).tempered == "worry"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "they locked me in the back room, is this a trap?"),
        ("pt", "me trancaram no quarto, pode ser golpe?"),
    ],
)
def test_a_worry_never_sets_a_risky_phrase_aside(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    found = screen.screen(text, lang)
    assert found.crisis and found.set_aside is None, found.reason


def test_negation_stops_at_the_end_of_a_sentence() -> None:
    text = "conheceu um cara no bar. é golpe?"
    assert not negated(text, text.index("é golpe"))
    assert negated("não é golpe", 4)
