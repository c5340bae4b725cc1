"""The phrase families and context rules of the seventh and eighth passes (issue #11), each
pinned in all four languages: being followed now, a boat's hold, men brought to a child, a threat
to find and kill, self-harm means and farewells; and what is not a crisis: a wish denied in its
own clause, a recovery told after a past, a service named "emergency", followed on social media.

These sentences were written for these tests; none is a line of any evaluation set.
"""

from __future__ import annotations

import pytest

from bot.safety.context import denied
from bot.safety.screen import SafetyScreen

# Danger now for the writer: followed, shut in a hold or a cold room, a threat to find and kill.
OWN = [
    ("en", "a man in a grey van is following me since the bus stop"),
    ("en", "we are in the hold of a ship, no light, we cant get out"),
    ("en", "he texted: i will find you and kill you"),
    ("es", "un carro negro me está siguiendo desde el mercado"),
    ("es", "vamos en la bodega del barco, no hay agua"),
    ("es", "me escribió: te voy a encontrar y te voy a matar"),
    ("pt", "tem um carro ta me seguindo desde a rodoviaria"),
    ("pt", "estamos no porão do navio, sem ar"),
    ("pt", "ele disse vou te achar e te matar"),
    ("fr", "un homme il me suit depuis la gare"),
    ("fr", "le patron m'a barré dans le sous-sol"),
    ("fr", "il a écrit je vais te retrouver et te tuer"),
    ("fr", "deux gars me courent après dans la rue, je sais pas où aller"),
    # the person is kept: someone else will hurt the writer
    ("es", "me van a lastimar si salgo"),
    ("pt", "ele vai me machucar se eu sair"),
    # a past marker elsewhere does not set aside a clause told in the present
    ("en", "the truck stopped long time ago so hot a woman fainted we bang the walls nobody comes"),
    ("es", "el camion paro hace mucho, una señora se desmayo, golpeamos las paredes y nadie viene"),
    # followed everywhere; taken by force (eighth pass)
    ("pt", "ele me segue até no banheiro do posto"),
    ("fr", "ma sœur a été embarquée de force dans une van ce matin"),
    # "not in danger" said by someone else does not count
    ("en", "im not in danger? they locked me in the room right now"),
]

# Someone else in danger now: a child men are brought to.
OTHERS = [
    ("en", "my niece says her stepdad brings men home to her at night"),
    ("es", "la señora de enfrente le trae hombres a su hija de 12 años"),
    ("pt", "o padrasto traz homens pra ela toda noite, ela tem 13 anos"),
    ("fr", "sa tante lui amène des hommes le soir, elle a 12 ans"),
]

# Self-harm now: the means at hand again, a farewell before it.
SELF_HARM = [
    ("en", "i cut myself again tonight"),
    ("en", "i wanted to say goodbye before i do it"),
    ("es", "me volví a cortar esta noche"),
    ("es", "quería despedirme antes de hacerlo"),
    ("pt", "me machuquei de novo hoje"),
    ("pt", "só queria dizer adeus antes de ir"),
    ("fr", "je me suis encore coupée ce soir"),
    ("fr", "je voulais dire adieu avant de partir pour de bon"),
    # the first person: the writer will hurt themself
    ("en", "im gonna hurt myself tonight"),
    ("es", "me voy a lastimar esta noche"),
    ("pt", "eu vou me machucar hoje"),
    # a farewell now (eighth pass)
    ("en", "this is goodbye, thank you for everything"),
    ("es", "esto es una despedida, gracias por todo"),
    ("pt", "isso é uma despedida, obrigada por tudo"),
    ("fr", "c'est un adieu, merci pour tout"),
]

# Not a crisis on the lexicons: a denied wish, a past told from a recovery, a service's name,
# being followed on social media.
NOT_CRISIS = [
    ("en", "it's not that i want to die, i just can't sleep, is there a doctor"),
    ("en", "back when i was with them i wanted to kill myself. i'm doing much better now"),
    ("en", "do you know any emergency shelter for a mother and two kids"),
    ("en", "some guy from my old job keeps following me on instagram, can i block him"),
    ("es", "no es que quiera morirme, solo necesito hablar con alguien"),
    ("es", "yo antes pensaba en matarme, ya estoy mejor, gracias a la terapia"),
    ("es", "busco un albergue de emergencia para mi prima"),
    ("pt", "n quero morrer nem nada, só preciso de um médico"),
    ("pt", "antes eu pensava em me matar, hoje estou melhor"),
    ("pt", "preciso de um abrigo de emergência pra minha irmã"),
    ("fr", "je ne veux pas mourir, j'ai juste besoin de parler à quelqu'un"),
    ("fr", "à une époque je voulais me tuer, maintenant je vais mieux"),
    ("fr", "je cherche un hébergement d'urgence pour ma cousine"),
    # thinking or planning it, denied
    ("en", "im not thinking about killing myself, i just cant sleep"),
    ("es", "no estoy pensando en matarme, solo quiero hablar con alguien"),
    ("pt", "não to pensando em me matar, só quero conversar"),
    ("fr", "je pense pas à me tuer, j'ai juste besoin d'aide"),
    # a past told from safety or a recovery now
    ("en", "he used to hit me but im safe at the shelter now, i want a lawyer"),
    ("fr", "j'ai eu des idées noires l'année passée mais là ça va mieux"),
    ("pt", "pensei em me matar quando eu tava naquela casa, hoje to bem"),
    ("pt", "não vou me machucar, fica tranquila, só quero conversar"),
    # a past told as such
    ("es", "estuve un año en una finca donde no nos dejaban salir, me fui y ahora estoy bien"),
    ("pt", "fiquei dias num caminhão sem água quando vim da bolívia, isso já faz tempo"),
]

# Still a crisis: the recovery is denied or comes with a wish now; "no" is an answer, not a
# denial; a negation that is part of the wish.
STILL_CRISIS = [
    ("en", "no i want to die"),
    ("en", "i'm doing better now but i want to die"),
    ("en", "i dont want to wake up tomorrow"),
    ("es", "ya estoy mejor dicen todos pero quiero morirme"),
    ("pt", "não eu quero morrer"),
    ("fr", "je vais mieux qu'ils disent mais j'ai envie de mourir"),
    ("en", "no im going to kill myself"),
    ("pt", "já pensei em me matar e hoje penso de novo"),
    ("en", "he hit me before and now he is back at the door"),
    # a wish said through a negation of living is never a denial
    ("fr", "je ne veux plus vivre"),
    ("fr", "je ne veux pas continuer à vivre"),
    ("es", "ya no quiero seguir aquí"),
    ("pt", "não quero acordar amanhã"),
    ("en", "i dont wanna wake up tomorrow"),
    ("en", "i dont want to go on"),
    ("pt", "to no telhado pensando em pular"),
    ("es", "ya no voy a ser una carga para nadie"),
    ("pt", "não vou ser mais um peso pra ninguém"),
    ("fr", "je serai plus un fardeau pour personne"),
]


@pytest.mark.parametrize(("lang", "text"), OWN)
def test_danger_now_is_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    s = screen.screen(text, lang)
    assert s.crisis, (text, s.reason)
    assert not s.self_harm, s.reason


@pytest.mark.parametrize(("lang", "text"), OTHERS)
def test_men_brought_to_a_child_is_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    s = screen.screen(text, lang)
    assert s.crisis, (text, s.reason)


@pytest.mark.parametrize(("lang", "text"), SELF_HARM)
def test_means_and_farewells_are_self_harm(screen: SafetyScreen, lang: str, text: str) -> None:
    s = screen.screen(text, lang)
    assert s.crisis, (text, s.reason)
    assert s.self_harm, s.reason


@pytest.mark.parametrize(("lang", "text"), NOT_CRISIS)
def test_denied_recovered_and_named_services_are_not_a_crisis(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    s = screen.screen(text, lang)
    assert not s.crisis, (text, s.reason)


@pytest.mark.parametrize(("lang", "text"), STILL_CRISIS)
def test_a_wish_now_stays_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    s = screen.screen(text, lang)
    assert s.crisis, (text, s.reason)


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "its not that i want to hurt myself", True),
        ("en", "i never want to die", True),
        ("en", "no i want to die", False),  # an answer, then the wish
        ("en", "no, i want to die", False),  # the comma ends the clause
        ("en", "i'm not ok i want to die", False),  # other words between
        ("pt", "eu não quero morrer", True),
        ("pt", "não eu quero morrer", False),
        ("es", "yo no quiero morir", True),
        ("en", "im not thinking about wanting to die", True),
        ("en", "no im going to want to die", False),  # an answer, then the wish
        ("pt", "to no quero pular", False),  # Portuguese "no" is "in the", never a negation
    ],
)
def test_denial_reads_only_the_words_just_before(lang: str, text: str, expected: bool) -> None:
    start = max(text.rfind("want"), text.rfind("quero"), text.rfind("quiero"))
    assert denied(text, start, language=lang) is expected


def test_a_negation_of_living_is_never_a_denial() -> None:
    text = "je ne veux plus vivre"
    assert denied(text, text.index("veux"), "veux plus vivre", "fr") is False
    assert denied(text, text.index("veux"), "veux mourir", "fr") is True
