"""Grammar cues: names of constructions a text uses, added to its query.

A guide names a construction ("Contractions", "the passive voice") where a block only uses
one (``aren't``, ``It was decided``): no word is shared, and a small embedding model does
not bridge the gap either. So a query is expanded with the construction's name when the
text shows it, the way a reader would look it up in the guide's index. The detectors are
plain English grammar, the same for every guide, and deliberately conservative: a missed
cue leaves the query as it was, a wrong one only adds a candidate.

- contraction: a word with ``n't``, ``'ll``, ``'re``, ``'ve``, ``'d`` or ``'m``, or ``'s``
  after a pronoun or question word (``it's``; ``the cluster's`` is a possessive);
- passive voice: a form of *be* (or *get*), negated or not, followed (an adverb in ``-ly``
  allowed between) by a past participle: a word in ``-ed``/``-en`` or an irregular one.
"""

from __future__ import annotations

import re

__all__ = ["CUES", "query_with_cues"]

_APOSTROPHE = "['’]"
_S_HOSTS = (
    "it|that|what|who|how|where|when|why|there|here|he|she|let|this|everyone|everybody|"
    "someone|somebody|nobody|nothing|something|everything"
)
_CONTRACTION = re.compile(
    rf"\b\w+(?:n{_APOSTROPHE}t|{_APOSTROPHE}(?:ll|re|ve|d|m))\b|\b(?:{_S_HOSTS}){_APOSTROPHE}s\b",
    re.IGNORECASE,
)
# The irregular past participles of a standard English verb table (those in -en and -ed
# are found by their ending).
_IRREGULAR_PARTICIPLE_LIST = (
    "arisen awoken beat become begun bent beset bet bid bled blown born borne bought "
    "bound bred broadcast brought built burnt burst cast caught chosen clung come cost "
    "crept cut dealt dived done gone drawn dreamt drunk dug dwelt fed felt fit fled "
    "flown flung forecast foregone foreseen foretold fought found ground grown heard "
    "held hewn hit hung hurt kept knelt knit known laid lain leant leapt learnt led left "
    "lent let lit lost made meant met mislaid misled misread misspelt misunderstood mown "
    "overcome overdone overthrown paid proven put quit read rid run rung said sat sawn "
    "seen sent set sewn shed shod shone shorn shot shown shrunk shut slain slept slid "
    "slit slung smelt sold sought sown sped spelt spent spilt spit split spoilt spread "
    "sprung spun stood stuck stung stunk strewn struck strung sung sunk sworn swept swum "
    "swung taught thought thrown thrust told torn trodden understood undone upheld upset "
    "wed wept withheld withstood woken won worn wound wrung"
)
_IRREGULAR_PARTICIPLES = "|".join(_IRREGULAR_PARTICIPLE_LIST.split())
_PASSIVE = re.compile(
    rf"\b(?:am|is|are|was|were|be|been|being|get|gets|got|gotten)(?:n{_APOSTROPHE}t)?\s+"
    r"(?:not\s+)?(?:\w+ly\s+)?"
    r"(?!(?:often|even|then|when|open|token|screen|listen|seven|eleven)\b)"
    rf"(?:\w+ed|\w+en|{_IRREGULAR_PARTICIPLES})\b",
    re.IGNORECASE,
)
# The construction's name as guides write it, for each detector.
CUES = ((_CONTRACTION, "contractions"), (_PASSIVE, "passive voice"))


def query_with_cues(text: str) -> str:
    """``text`` with the name of each construction it shows appended, once."""
    names = [name for detector, name in CUES if detector.search(text)]
    return "\n".join((text, *names)) if names else text
