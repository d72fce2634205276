"""What a question asks for (a person, a date, a place, an amount ...) and which sentences hold one.

Readers ask "How old is the man who ..." or "Which city is hosting ..." in words the article does not
use; the sentence that answers holds an age (", 55,") or a place ("in Atlanta") whatever its wording.
Both sides are tagged here with patterns: questions by their wh-word and the noun after it, sentences
by the shapes news text gives these values. The match is a ranking feature (index.search), so a miss
costs a little score, never an answer. spaCy's NER was weighed and not used: its English models are on
the package index only as third-party re-uploads, and these patterns are a few microseconds a sentence.
"""

from __future__ import annotations

import re

import numpy as np

TYPES = ("person", "date", "place", "money", "percent", "count", "age", "duration", "score", "quantity", "name")

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMBER_WORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
                r"hundred|thousand|dozen|dozens|hundreds|thousands|millions|half|a third|two-thirds|a quarter)")
_NUM = rf"(?:\d[\d,.]*|{_NUMBER_WORD})"
_TITLES = (r"(?:Mr|Mrs|Ms|Dr|Prof|Gen|Gov|Sen|Rep|Capt|Lt|Col|Sgt|Judge|Justice|President|Minister|Secretary|"
           r"Chancellor|Prime Minister|CEO|Chief|Director|Commissioner|Prosecutor|Attorney|Coach|Sheriff|Mayor)")
_CAP = r"[A-Z][a-z'’]+(?:-[A-Z][a-z]+)?"
_NOT_NAME = {"The", "A", "An", "In", "On", "At", "But", "And", "He", "She", "It", "They", "We", "This", "That",
             "If", "As", "For", "When", "While", "After", "Before", "Now", "Still", "Some", "His", "Her", "Their",
             "Its", "Our", "There", "What", "Why", "How", "Who", "Where", "With", "From", "By", "Of", "To", "So",
             "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
             "March", "April", "June", "July", "August", "September", "October", "November", "December"}

_SENTENCE = {
    "date": re.compile(
        rf"\b{_MONTH}\s+\d{{1,2}}\b|\b{_WEEKDAY}\b|\b(?:1[89]|20)\d{{2}}s?\b|\b(?:today|tonight|yesterday|tomorrow)\b|"
        rf"\b(?:next|last|this|later this|early next|earlier this)\s+(?:week|month|year|spring|summer|fall|autumn|winter|"
        rf"season|decade)\b|\b(?:in|by|since|until|from)\s+{_MONTH}\b|\b\d{{1,2}}(?::\d{{2}})?\s*[ap]\.?m\.?|"
        rf"\b(?:first|second|third|fourth|last)\s+(?:half|quarter)\b|\b(?:early|mid|late)-?\s?(?:\d{{4}}|{_MONTH})|"
        rf"\b(?:spring|summer|fall|autumn|winter)\b|\b(?:ago|soon|later)\b|\bnoon\b|\bmidnight\b", re.I),
    "money": re.compile(rf"[$€£¥]\s?\d|\b\d[\d,.]*\s?(?:dollars|euros|pounds|cents|rupees|yuan)\b|"
                        rf"\b(?:Rs\.?|USD|EUR)\s?\d|\b{_NUM}\s+(?:million|billion|trillion)\b", re.I),
    "percent": re.compile(r"\d\s?%|\b\d[\d.]*\s?(?:percent|per cent|percentage points?)\b|\bpercent\b", re.I),
    "age": re.compile(r",\s\d{1,3},|\b\d{1,3}-year-old\b|\baged?\s\d{1,3}\b|\b\d{1,3}\s(?:years|yrs)\sold\b|"
                      rf"\b{_NUMBER_WORD}-year-old\b", re.I),
    "duration": re.compile(rf"\b{_NUM}[- ](?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|"
                           rf"centur(?:y|ies))\b|\b(?:decades|years|months|weeks|hours)\b", re.I),
    "quantity": re.compile(rf"\b{_NUM}[- ]?(?:miles?|kilomet(?:er|re)s?|km|meters?|metres?|feet|foot|inch(?:es)?|"
                           rf"grams?|kilograms?|kg|pounds?|lbs?|tons?|tonnes?|acres?|gallons?|liters?|litres?|mph|"
                           rf"degrees?|points?|yards?|goals?|games?)\b|\b\d[\d,.]*\b", re.I),
    "score": re.compile(r"\b\d{1,3}-\d{1,3}\b(?!-)|\b\d{1,3} to \d{1,3}\b"),
    "name": re.compile(r"(?<!^)(?<![.!?] )(?<![.!?]\u201d )\b[A-Z][a-zA-Z]+"),
    "count": re.compile(rf"\b(?!(?:1[89]|20)\d{{2}}\b)\d[\d,]*\b(?![-/]\d)(?!\s?%)|\b{_NUMBER_WORD}\b", re.I),
    "place": re.compile(
        rf"\b(?:in|at|near|from|to|outside|across|of)\s+(?:the\s+)?(?!{_WEEKDAY}|{_MONTH}\s+\d)"
        rf"[A-Z][a-z]+(?:\s[A-Z][a-z]+)*|"
        r"\b[A-Z][a-z]+,\s(?:[A-Z][a-z]+\.?|[A-Z]{2})\b|"  # "Addison, N.Y.", "Hayward, Calif."
        r"\b[A-Z]{2,}\b(?=\s\(AP\)|\s\(Reuters\))"),
}
_PERSON = re.compile(rf"\b{_TITLES}\.?\s+{_CAP}|(?<!^)\b{_CAP}\s+(?:[A-Z]\.\s+)?{_CAP}\b|\b{_CAP}\s+{_CAP}\s+(?:Jr|Sr)\b")

_PERSON_NOUNS = (
    r"person|man|woman|people|player|minister|official|officials|prosecutor|professor|expert|analyst|judge|coach|"
    r"ceo|executive|leader|president|senator|lawmaker|candidate|scholar|spokes\w*|author|doctor|scientist|"
    r"researcher|agent|founder|chief|director|manager|reporter|company|companies|team|group|firm|organi[sz]ation|"
    r"athlete|quarterback|scorer|actor|singer|economist|investor|lawyer|attorney|victim|suspect|driver|"
    r"governor|mayor|chairman|head|boss|star"
)
_LEAD = r"^(?:[\w'’,-]+\s+){0,3}?"  # the wh-word opens the question ("So who ...", "And when ..."), not a clause
_QUESTION = (
    (("age",), re.compile(r"\bhow old\b|\bwhat age\b|\bage of\b", re.I)),
    (("score",), re.compile(r"\bscore\b|\bwhat(?:'s| is| was) (?:the |their |its )?(?:[\w'’]+ )?record\b", re.I)),
    (("date",), re.compile(_LEAD + r"when\b|\bwhat (?:year|date|day|month|time|decade|century)\b|\bwhich (?:year|day|month|"
                          r"date)\b|\bwhat time\b|\bhow soon\b", re.I)),
    (("duration", "date"), re.compile(r"\bhow long\b|\bfor how many (?:years|months|weeks|days|hours)\b|"
                                      r"\bhow late\b|\bwhat sentence\b|\bhow much (?:time|prison|jail)\b", re.I)),
    (("percent",), re.compile(r"\bwhat (?:percent(?:age)?|share|proportion|fraction|portion|rate)\b|\bhow much of\b|"
                             r"\bpercent\b|%", re.I)),
    (("count",), re.compile(r"\bhow many\b|\bwhat number\b|\bnumber of\b", re.I)),
    (("quantity", "count"), re.compile(r"\bhow (?:far|big|large|tall|high|heavy|fast|wide|deep|small|long a)\b|"
                                       r"\bwhat (?:\w+ )?(?:size|range|distance|speed|level|weight|height)\b", re.I)),
    (("money", "percent", "count", "quantity"), re.compile(r"\bhow much\b|\bby how much\b", re.I)),
    (("money",), re.compile(r"\bwhat (?:price|amount|cost|value|revenue|salary|sum|fine|bond)\b|\bin dollars\b|"
                           r"\bhow expensive\b", re.I)),
    (("place",), re.compile(_LEAD + r"where\b|\b(?:which|what) (?:city|town|country|state|place|venue|county|region|"
                           r"neighbo\w+|location|stadium|prison|court|province|village|island|continent)\b", re.I)),
    (("name", "person"), re.compile(r"\b(?:which|what)\s+(?:[\w'’-]+\s+){0,2}(?:company|companies|team|group|firm|"
                                    r"organi[sz]ation|mission|agency|bank|banks|brand|game|title|newspaper|outlet|"
                                    r"party|school|country|countries|club)\b", re.I)),
    (("person",), re.compile(_LEAD + r"who(?:m|se)?\b|" + rf"\b(?:which|what)\s+(?:[\w'’-]+\s+){{0,2}}(?:{_PERSON_NOUNS})\b|"
                            r"\bname of\b|\bwhat(?:'s| is) the name\b|\bwhat(?:'s| is) (?:his|her) name\b", re.I)),
)


# Questions that ask for a measured value in a unit: an amount of money ("How much did X pay ...",
# "What price ..."), a temperature, a speed. A passage that states no value in such a unit does not
# answer them (Engine._answer declines; bench/exp/strong_types.py and measures.py measured which kinds
# this holds for on SQuAD-A as well as news-dev: not for dates, ages or percentages, whose answers
# often take shapes these patterns miss).
_ASKS_MEASURE = {
    # "How much [more] did/will/is ... cost/pay/...": the amount itself. "How much time/gold ... spend/sell"
    # asks for a quantity of that thing instead, so a noun right after "how much" must be money's own.
    "money": re.compile(
        r"\bhow much (?:money|cash|dollars|revenue|profit|income|funding|budget|salary)\b|"
        r"\bhow much (?:more |less )?(?:did|does|do|will|would|could|can|is|was|are|were|has|have|had|should|might|"
        r"must)\b(?:\s+[\w'’-]+){0,8}?\s+(?:cost|costs|pay|paid|raise|raised|earn|earned|spend|spent|fine|fined|"
        r"charge|charged|price|priced|sell|sold|worth|owe|owed|bid|offer|offered|revenue|profit|income|funding|budget|"
        r"salary)\b|\bwhat (?:price|cost|amount of money|sum)\b|\bin dollars\b|\bhow expensive\b", re.I),
    "temperature": re.compile(
        r"\bhow (?:hot|cold|warm)\b|\bwhat(?:'s| is| was| are| were| will be)? (?:the |its |their )?(?:[\w-]+ ){0,3}"
        r"temperatures?\b", re.I),
    "speed": re.compile(
        r"\bwhat(?:'s| is| was| are| were| will be)? (?:the |its |their )?(?:[\w-]+ ){0,3}speeds?\b", re.I),
}
_CURRENCY_WORDS = r"(?:dollars|euros|pounds|yen|yuan|rupees|francs|pesos|kronor|kroner|kronur|roubles|rubles)"
_MEASURE_UNIT = {
    # An amount, or a change in percent ("How much did the price of oil rise?"), or nothing to pay; also in
    # words ("a billion dollars"), in pence ("10p"), in other currencies ("CHF 40", "500 kronor", "3,000 crore").
    "money": re.compile(rf"{_SENTENCE['money'].pattern}|{_SENTENCE['percent'].pattern}|\bpence\b|\bfree\b|"
                        r"\bno (?:charge|cost)\b|\b(?:hundred|thousand|million|billion|trillion)s?(?: of)? "
                        rf"{_CURRENCY_WORDS}\b|\b\d{{1,2}}p\b|\b\d[\d,.]*\s?(?:{_CURRENCY_WORDS}|crore|lakh)\b|"
                        r"\b(?:CHF|SEK|NOK|DKK|JPY|CNY|GBP|INR|kr)\s?\d", re.I),
    # also written onto the number, as most news pages do: "40C (104F)", "-12C"
    "temperature": re.compile(r"°|\bdegrees?\b|\bcelsius\b|\bfahrenheit\b|\bkelvin\b|\d[CF]\b", re.I),
    # the unit also written onto the number: "70mph", "100km/h", "1Gbps"
    "speed": re.compile(
        r"(?:\b|(?<=\d))(?:mph|km/h|kmh|kph|rpm|knots|[mgk]bps)\b|\d\s?m/s\b|\b(?:mega|giga|kilo)bits?\b|\bmach \d|"
        r"\b(?:miles|kilomet(?:er|re)s|meters|metres|feet) (?:per|an|a) (?:hour|second|minute)\b", re.I),
}


def asked_measure(question: str) -> str | None:
    """The kind of measured value the question asks for ("money", "temperature", "speed"), or None."""
    for kind, pattern in _ASKS_MEASURE.items():
        if pattern.search(question):
            return kind
    return None


def holds_measure(kind: str, text: str) -> bool:
    """Whether ``text`` states a value of the measured ``kind`` (see asked_measure)."""
    return bool(_MEASURE_UNIT[kind].search(text))


def missing_measure(question: str, passage: str) -> str | None:
    """The kind of measured value the question asks for that ``passage`` does not state, or None."""
    kind = asked_measure(question)
    return kind if kind and not holds_measure(kind, passage) else None


def question_types(question: str) -> tuple[str, ...]:
    """The kinds of value (from TYPES) a question asks for; empty when it asks for none in particular."""
    for kinds, pattern in _QUESTION:
        if pattern.search(question):
            return kinds
    return ()


def question_type(question: str) -> str | None:
    """The main kind of value a question asks for, or None."""
    kinds = question_types(question)
    return kinds[0] if kinds else None


def _has_person(text: str) -> bool:
    for m in _PERSON.finditer(text):
        first = m.group(0).split()[0]
        if first not in _NOT_NAME:
            return True
    return False


def asked_mask(question: str) -> np.ndarray:
    """A 0/1 vector over TYPES of the kinds the question asks for."""
    kinds = question_types(question)
    return np.array([kind in kinds for kind in TYPES], dtype=np.float32)


def sentence_types(text: str) -> list[bool]:
    """Per type in TYPES: does the sentence hold a value of that kind?"""
    return [_has_person(text) if kind == "person" else bool(_SENTENCE[kind].search(text)) for kind in TYPES]


def type_matrix(texts: list[str]) -> np.ndarray:
    """One row per sentence, one column per type in TYPES (float32 0/1)."""
    out = np.zeros((len(texts), len(TYPES)), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i] = sentence_types(t)
    return out
