"""Keywords of a text, across languages: words stemmed with Snowball (so "погода", "погоды" and
"погоду" count as one), stop words of English and Russian dropped (and of the other UI
languages' stemmers' most common words), each stem remembering how it was most often written."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W\d_]{3,}")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_STEMMERS = {"en": "english", "ru": "russian", "de": "german", "es": "spanish", "fr": "french"}

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can cannot could couldn did didn do does doesn doing don down
during each few for from further get got had hadn has hasn have haven having he her here hers
herself him himself his how however i if in into is isn it its itself just let like ll make me
might more most much must my myself need no nor not now of off on once only or other ought our
ours ourselves out over own please really same shall she should shouldn so some such tell than
thank thanks that the their theirs them themselves then there these they thing things this those
through to too under until up use used using very want was wasn way we well were weren what when
where which while who whom why will with without would wouldn write you your yours yourself
yourselves hello help know one two also can't don't i'm it's what's how's there's let's could
give show find best good new get make explain example question answer
а без более бы был была были было быть в вам вас весь во вот все всего всех вы где да даже для
до его ее ей ею если есть еще же за здесь и из или им их к как какая какой когда кто ли либо
мне может мой моя мы на надо наш не него нее нет ни них но ну о об однако он она они оно от
очень по под при про с со так также такой там те тем то того тоже той только том ты у уже
хотя чего чей чем что чтобы чье чья эта эти это этот я мне меня мой нам нас себя себе свой
свою сказать скажи подскажи пожалуйста помоги помогите можно нужно нужен хочу сделать какие
каких какое который которая которые привет спасибо объясни расскажи напиши как-то почему зачем
der die das und ist nicht ein eine mit für auf den dem des sich von zu wie was ich du wir sie
les des une est pas pour dans que qui avec sur par mais plus comment
los las una por con para que como más del pero qué cómo
""".split())


@lru_cache(maxsize=8)
def _stemmer(name: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(name)


def _stemmer_for(word: str, language: str) -> snowballstemmer.stemmer:
    if _CYRILLIC.search(word):
        return _stemmer("russian")
    return _stemmer(_STEMMERS.get(language.split("-")[0], "english"))


def keywords_of(text: str, *, language: str = "en", forms: dict[str, Counter[str]] | None = None
                ) -> set[str]:
    """The text's distinct stems; ``forms`` (if given) counts each stem's written forms."""
    stems: set[str] = set()
    for word in _WORD.findall(text.lower()):
        if word in STOP_WORDS:
            continue
        stem = _stemmer_for(word, language).stemWord(word)
        if len(stem) < 3 or stem in STOP_WORDS:
            continue
        stems.add(stem)
        if forms is not None:
            forms.setdefault(stem, Counter())[word] += 1
    return stems
