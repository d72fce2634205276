"""Key figures of an article: the numbers a reader would name, each with a label, ranked by importance.

What is found (one pass of patterns over each sentence, earlier patterns claiming their span first):
money ("$27.2 billion", "$40-50 billion", "5 billion dollars"), percentages and points, fractions
("two-thirds", "by a third", "one in five"), ages ("Assange, 47,", "48-year-old"), scores and records
("45-17", "(6-5)"), multiples ("nine times higher"), counts, durations and quantities with the noun they
count, in digits or words ("18 criminal charges", "seven witnesses", "a dozen owners", "three-hour",
"11-game", "149 horsepower", "21 day"), ordinals of a thing ("a 6th fatality"), index levels
("40,816.38") and target years ("by 2030"). Values are normalized (27.2e9, 0.035 for 3.5%) and the unit
is kept ("USD", "%", "years", "witnesses").

Each label is the figure's clause with "…" where the figure stands ("Assange faces … in the US"), at most
LABEL_WORDS words, or a noun phrase where the pattern knows better ("Assange's age", "Eagles record").

Then a document's figures are deduplicated (the same value of the same kind and unit stated again is one
figure, and its repetition counts for it; a small count only when the two labels share words, so two
players' "6 points" stay two) and ranked by what a reader names first: the headline's
numbers, the lead, early position, repetition, the kind (money and percentages before counts, counts
before years and ordinals) and whether it stands in the main text rather than in parentheses. The list
is stored and shown in that order. Sentences that repeat the headline or are calls to action ("Join our
free $1,000,000 parlay challenge"), and rows of quote widgets ("| HD | THE HOME DEPOT INC. | 225.86 |"),
give no figures: they are page furniture, not the article.

Why patterns rather than a tagger (bench/figures_vs_spacy.py, the 123 gold figures of news-dev, one run):
- spaCy 3.8 with en_core_web_sm: its numeric entities hold the numbers of 98% of the gold figures but
  only 58% with what they count ("seven", not "seven witnesses": that needs its parser as well), it
  took 159 µs a character against 4.7 for these patterns (the sentence embedding costs about 20), and
  the model is on the package index only as third-party re-uploads whose weights cannot be checked
  against the original release. Not worth a dependency that would multiply build time.
- quantulum3 0.10 (measured earlier on the seed article and the syntax cases in tests/test_figures.py):
  16/28 positives, 2/12 negatives clean; price-parser 0.5: money only, no spans.
- these patterns: every case in tests/test_figures.py; a sentence without a digit or number word costs
  one regex scan.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from index.models import Figure, Sentence

log = logging.getLogger(__name__)

LABEL_MAX = 60
LABEL_WORDS = 8
MAX_PER_SENTENCE = 40
# Bumped when extraction, labels or ranking change, so stored figures are extracted again on the next write.
FIGURES_VERSION = 2
KINDS = frozenset({"money", "percent", "fraction", "count", "duration", "quantity", "age", "score", "ratio",
                   "ordinal", "index", "year"})

_UNITS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUES = {w: float(i + 1) for i, w in enumerate(_UNITS)} | {w: float(20 + 10 * i) for i, w in enumerate(_TENS)}
_ORDINAL_WORDS = {w: float(i + 1) for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())}
_SCALES = {"trillion": 1e12, "billion": 1e9, "million": 1e6, "thousand": 1e3,
           "tn": 1e12, "trn": 1e12, "bn": 1e9, "bln": 1e9, "mn": 1e6, "mln": 1e6, "m": 1e6, "k": 1e3}

_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORDNUM = rf"(?:{'|'.join(_TENS)})(?:-(?:{'|'.join(_UNITS[:9])}))?|{'|'.join(sorted(_UNITS, key=len, reverse=True))}"
# A number not glued to other digits, times, dates or ranges ("10:30", "202-555", "3/4", "1st").
_NUM_OPEN = rf"(?<![\w.,:/+\-$€£¥])(?:{_DIGITS}|(?i:{_WORDNUM})(?![\w]))"
_NUM = rf"{_NUM_OPEN}(?![\w%]|[.,:/\-]\d)"
_SCALE = r"(?i:trillion|billion|million|thousand)"

_MONEY_PRE = re.compile(
    r"(?<![\w$])(?P<cur>US\$|U\.S\.\s?\$|CA?\$|AU?\$|HK\$|NZ\$|\$|€|£|¥|(?:USD|EUR|GBP|JPY)(?=\s))\s?"
    rf"(?P<num>{_DIGITS})(?:\s?[-–]\s?\$?(?P<hi>{_DIGITS}))?"
    rf"(?:\s(?P<scale>{_SCALE})\b|\s?(?P<abbr>tn|trn|bn|bln|mn|mln)\b|(?P<abbr2>[mMkK])\b)?"
    r"(?![\w%]|[.,:/\-]\d)")
_MONEY_POST = re.compile(
    rf"(?P<num>{_NUM})(?:\s(?P<scale>{_SCALE}))?\s(?P<cur>(?:(?:US|U\.S\.|Canadian|Australian)\s)?dollars|"
    r"euros?|pounds(?:\ssterling)?|yen|yuan|r[o]?ubles|rupees|crore|lakh|USD|EUR|GBP|INR)\b")
_PERCENT = re.compile(
    rf"(?P<num>(?<![\w.,:/+$])-?(?:{_DIGITS}|(?i:{_WORDNUM})(?![\w])))(?![.,:/\-]\d)"
    r"(?:\s?%|\s(?i:percent|per\scent)\b|\s(?P<pp>percentage\spoints?)\b)"
    r"(?P<gdp>\sof\s(?:(?:their|its|the|our|national|the\scountry['’]s|[A-Z][a-z]+['’]s)\s)?"
    r"(?:GDP|gross\sdomestic\sproduct)\b)?")
_DENOMS = {"half": 2, "halves": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6,
           "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
_FRACTION = re.compile(
    r"(?i:\b(?P<n>one|two|three|four|five|six|seven|eight|nine|a)(?P<sep>[\s-])"
    r"(?P<d>half|thirds?|quarters?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?))\b"
    r"(?P<of>\sof\b)?")
_HALF = re.compile(r"\b(?P<w>[A-Za-z]+\s)?(?P<half>[Hh]alf)(?=\s(?:of|the|its|their|all)\b)")
_ONE_IN = re.compile(rf"(?P<a>{_NUM})\s(?:in|out\sof)\s(?:every\s)?(?P<b>{_NUM})")
_YEAR = re.compile(
    r"\b(?P<prep>[Bb]y\sthe\send\sof|[Nn]o\slater\sthan|[Bb]y|[Uu]ntil|[Tt]ill|[Tt]hrough|[Bb]efore|"
    r"[Dd]eadline\sof|[Tt]arget\sof)\s(?P<year>(?:18|19|20|21)\d\d)(?![\w%]|[.,:/\-]\d)")
_AGE_OLD = re.compile(rf"(?<![\w.,\-])(?P<num>\d{{1,3}}|(?i:{_WORDNUM}))[-\s](?:years?|months?)[-\s]olds?\b")
_AGED = re.compile(r"\b(?:[Aa]ged?|[Aa]ges)\s(?P<num>\d{1,3})\b(?![.,]\d)")
_COMMA_AGE = re.compile(r",\s(?P<num>\d{1,3})(?=,|\s(?:of|from|who|was|is|has|had|and)\b|\.(?:\s|$))")
_NAME_BEFORE = re.compile(r"(?P<name>\b[A-Z][\w'’.\-]*(?:\s(?:[A-Z][\w'’.\-]*|de|van|von|al|bin|da)){0,4})\Z")
_SCORE = re.compile(r"(?<![\w.,:/+\-$€£#–])(?P<a>\d{1,3})[-–](?P<b>\d{1,3})(?![\w%]|[.,:/\-–]\d|-)")
_RATIO = re.compile(rf"(?P<num>{_NUM})\stimes\s(?=higher|lower|more|less|greater|larger|bigger|smaller|faster|"
                    r"slower|the\b|as\b|that\b)")
_ORDINAL = re.compile(r"(?<![\w.,:/\-])(?P<num>\d{1,3})(?:st|nd|rd|th)\b(?=\s(?P<w>[a-z][a-z\-]+))")
_INDEX_LEVEL = re.compile(r"(?<![\w.,$€£¥\-])\d{1,3}(?:,\d{3})+\.\d{1,2}(?![\w%]|[.,]\d)")
_AS_MANY = re.compile(rf"\bas\s(?:many|much)\sas\s(?P<num>{_DIGITS})(?![\w%]|[.,:/\-]\d)")
_PER = re.compile(r"\s(?:a|an|per)\s(?P<per>share|week|month|year|day|hour|barrel|gallon|ton|tonne|ounce|"
                  r"person|head|night|mile|minute)\b")
_CHANGE_VERBS = set("rose fell gained lost dropped jumped climbed slipped sank slid added shed surged tumbled "
                    "advanced declined up down".split())
_SOURCING = re.compile(r"\s(?:familiar\swith|briefed\son|with\sknowledge\sof|close\sto|who\sspoke\son)\b")
_DOZEN = re.compile(r"\b(?P<a>[Aa]|[Hh]alf\sa)\sdozen\b")
_PARTITIVE = re.compile(
    rf"(?<![\w.,\-])(?P<num>{_DIGITS}|(?i:{_WORDNUM}))\sof\s(?:the|its|their|those|these|his|her)\s"
    rf"(?:(?:{_DIGITS}|(?i:{_WORDNUM}))\s)?(?P<w>[A-Za-z][a-z]+)\b")
_HYPHEN_UNIT = re.compile(rf"(?<![\w.,:/+\-$€£¥])(?P<num>\d+(?:\.\d+)?|(?i:{_WORDNUM}))-(?P<w>[A-Za-z]+)(?![\w\-])")
_NUMBER = re.compile(_NUM)
_LOWER_WORD = re.compile(r"\s[a-z]")
_ANY_NUMBER = re.compile(rf"\d|(?i:\b(?:{_WORDNUM}|dozen|half|halves|thirds?|quarters?|fourths?|fifths?|sixths?|"
                         r"sevenths?|eighths?|ninths?|tenths?)\b)")
_SCALE_AFTER = re.compile(rf"\s({_SCALE})\b")
_WORD_AFTER = re.compile(r"\s(?P<w>[A-Za-z][A-Za-z’'\-]*)")
_PHONE = re.compile(r"(?:\+\d{1,3}[\s.\-]?)?\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}\b")
_CONTEXT_YEAR = re.compile(r"\b(?:[Ii]n|[Dd]uring|[Ff]or|[Ff]iscal)\s((?:19|20)\d\d)\b")
# Calls to action and share widgets that page extraction lets through: never an article's figure.
_FURNITURE = re.compile(
    r"^\W*(?:join\s(?:our|us|the)|sign\sup|subscribe|click|tap\shere|download|follow\sus|read\smore|like\sus|"
    r"register\s(?:now|today|for)|log\sin|enter\sto\swin|shop\s|watch\s(?:now|live)|listen\s(?:now|live))\b",
    re.IGNORECASE)

_CURRENCY = {"$": "USD", "US$": "USD", "U.S.$": "USD", "U.S. $": "USD", "USD": "USD", "C$": "CAD", "CA$": "CAD",
             "A$": "AUD", "AU$": "AUD", "HK$": "HKD", "NZ$": "NZD", "€": "EUR", "EUR": "EUR", "£": "GBP",
             "GBP": "GBP", "¥": "JPY", "JPY": "JPY", "euro": "EUR", "euros": "EUR", "pounds": "GBP",
             "pounds sterling": "GBP", "yen": "JPY", "yuan": "CNY", "rubles": "RUB", "roubles": "RUB",
             "rupees": "INR", "INR": "INR", "crore": "INR", "lakh": "INR"}
_INR_SCALES = {"crore": 1e7, "lakh": 1e5}
_TIME_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days", "week": "weeks",
               "month": "months", "year": "years", "decade": "decades", "century": "centuries"}
_MEASURES = {"mile": "miles", "kilometer": "kilometers", "kilometre": "kilometers", "km": "km", "meter": "meters",
             "metre": "meters", "foot": "feet", "feet": "feet", "ft": "feet", "inch": "inches", "inches": "inches",
             "yard": "yards", "gram": "grams", "kilogram": "kilograms", "kg": "kg", "ton": "tons", "tonne": "tonnes",
             "liter": "liters", "litre": "liters", "gallon": "gallons", "barrel": "barrels", "acre": "acres",
             "hectare": "hectares", "horsepower": "horsepower", "hp": "horsepower", "mph": "mph", "degree": "degrees",
             "watt": "watts", "kilowatt": "kilowatts", "megawatt": "megawatts", "gigawatt": "gigawatts",
             "ounce": "ounces", "pound": "pounds", "lb": "pounds", "lbs": "pounds", "cm": "cm", "mm": "mm",
             "calorie": "calories", "square": "square", "cubic": "cubic", "mile-long": "miles"}
# "one-time payment", "two-way street": hyphenated words that are not a number of anything.
_NOT_HYPHEN_UNITS = set("time times way off on sided hand handed liner liners to of and or thirds third half "
                        "quarter quarters fifths fifth digit digits fold".split())
# Words that put a number in a name, a date or a list position rather than a quantity.
_NAME_WORDS = set(("article section chapter resolution paragraph no no. number flight route room page rule phase "
                   "level grade category stage amendment protocol item point clause title volume vol. part act "
                   "round vote district highway road gate terminal unit division brigade squadron interstate "
                   "i- top week game episode season").split())
_MONTHS = set(("january february march april may june july august september october november december "
               "jan jan. feb feb. mar mar. apr apr. jun jun. jul jul. aug aug. sep sep. sept sept. oct oct. "
               "nov nov. dec dec.").split())
_WEEKDAYS = set("monday tuesday wednesday thursday friday saturday sunday".split())
_NOT_NAMES = _MONTHS | _WEEKDAYS | set("no nos route section chapter article page room flight act".split())
_FUNCTION = set(("a an the of and or to in on at for with by from that which who whom whose was were is are be "
                 "been being will would could should can may might must has have had said says than more less "
                 "per as into over under about after before since until this these those its it their his her "
                 "our your not no so if but while when where also just only then there here each every all").split())
_NOT_PLURAL = set(("its this his hers ours theirs yours was has does as thus plus minus versus us yes perhaps always "
                   "sometimes towards afterwards besides whereas percent times ones others various previous news "
                   "serious famous various numerous enormous jealous anxious nervous obvious").split())
_IRREGULAR_PLURALS = set("people personnel children men women police staff aircraft cattle livestock feet "
                         "horsepower".split())
_DETERMINERS = set("the these those both its their his her our your my".split())
# "the 2nd half", "the 3rd time": ordinals that place an event rather than count a thing like "a 6th death".
_ORDINAL_NOT = set("century centuries anniversary birthday street avenue floor amendment district round minute "
                   "half quarter time period inning innings set leg stage day week month year hole lap "
                   "of in at and or to".split())
_QUALIFIERS = re.compile(
    r"(?:\s|^)(?:at least|at most|more than|less than|fewer than|up to|nearly|almost|about|around|roughly|some|"
    r"over|under|just|only|approximately|an estimated|a total of|as much as|as many as|a|an|the|of|to|by|at|"
    r"from|with|for|than|and|or|but|well over|well under|a maximum of|a minimum of)\s*$", re.IGNORECASE)
# A full stop inside a sentence ends a clause unless it closes an initial or a title ("Palm Bay d. Rockledge").
_STOP = r"(?<![\s.(][A-Za-z])(?<![\s(](?:Jr|Sr|Mr|Ms|Dr|St|No|vs|Co|Lt))(?<![\s(](?:Mrs|Gov|Sen|Rep|Inc|Ltd))\.\s"
_LEFT_BREAK = re.compile(
    rf"[;:—–“”\"()]|,\s|\s-\s|{_STOP}|\bthat\b(?!['’])|\b(?:said|says|noted|added|told reporters|according to|while|"
    r"whereas|but)\b")
_RIGHT_BREAK = re.compile(
    rf"[;:—–“”\"()]|,\s|\s-\s|{_STOP}|\.$|\b(?:and|but|while|whereas|although|which|who)\b")
_FILLER = re.compile(r"\b(?:now|currently|also|still|already|reportedly|however|instead)\s|"
                     r"\b(?:are|is|were|was)\s(?=\w+ing\b)", re.IGNORECASE)
_LEADING_CONJ = re.compile(r"^(?:and|or|but|while|which|who|as|so|then|because|although|whereas|with)\s+",
                           re.IGNORECASE)
_DETERMINER = re.compile(r"(?:^|\s)(?:a|an|the)\s*$", re.IGNORECASE)
# "COLUMBIA, S.C. (AP) —", "WASHINGTON (Reuters) -": where the story was filed, not what it is about
_DATELINE = re.compile(r"^\s*[A-Z][A-Z .'\-]+(?:,\s[\w. ]+)?\s*(?:\(\w+\)|\s{3,})?\s*[—–-]\s*$")
_SALIENT = re.compile(
    r"\b(?:revenue|sales|profit|loss|earn|earnings|income|price|cost|deal|worth|valu|stake|fine|bond|budget|"
    r"tariff|debt|wage|salar|tax|sentence|prison|jail|charge|dead|death|died|kill|injur|arrest|vote|poll|"
    r"rate|growth|rose|fell|jump|drop|record|high|low|beat|won|lost|score|shares|stock)",
    re.IGNORECASE)
_RESULT = re.compile(r"\b(?:beat|beats|defeat\w*|d\.|def\.|rout\w*|victory|victories|win|wins|won|lost|loss|"
                     r"drew|draw|rolled|edged|topped|tops|past|over|downed|blanked|shut\sout)(?!\w)", re.IGNORECASE)
_KIND_WEIGHT = {"money": 3.0, "percent": 3.0, "index": 3.0, "fraction": 2.4, "score": 2.4, "age": 2.2,
                "duration": 2.2, "quantity": 2.4, "ratio": 2.4, "count": 2.2, "ordinal": 1.2, "year": 1.2}


@dataclass(frozen=True)
class _Found:
    """A figure inside one sentence, before it is placed in the document."""

    start: int
    end: int
    value: float
    unit: str
    kind: str
    label: str = ""  # set when the pattern knows better than the clause ("Assange's age")
    weak: bool = False  # a bare number with no noun, or written in words ("five", "two weeks")


def extract_figures(doc_id: str, text: str, sentences: Sequence[Sentence], *, title: str = "") -> list[Figure]:
    """Key figures of a document, most important first, each stated once.

    Each Figure's start/end is its span in ``text``; ``title`` (the headline) lifts the figures it names
    and a sentence that only repeats it gives none."""
    headline = _norm(title)
    found: list[tuple[Sentence, _Found]] = []
    for sent in sentences:
        if text[sent.start:sent.end] != sent.text:
            log.warning("sentence %d of %s does not match its span %d:%d; skipped", sent.sentence, doc_id,
                        sent.start, sent.end)
            continue
        if _is_furniture(sent.text, headline):
            continue
        # a sentence with more figures than this is a table or a box score: its first ones stand for it
        in_sentence = [f for f in _figures_in(sent.text) if not _is_ticker_row(sent.text, f.start)][:MAX_PER_SENTENCE]
        found.extend((sent, f if f.label else replace(f, label=_label(sent.text, f)))
                     for f in in_sentence)
    return [
        Figure(doc_id=doc_id, text=sent.text[f.start:f.end], value=f.value, unit=f.unit, kind=f.kind, label=f.label,
               paragraph=sent.paragraph, sentence=sent.sentence, start=sent.start + f.start,
               end=sent.start + f.end, citation=None, sentence_text=sent.text)
        for sent, f in _rank(found, title, sentences)
    ]


def _norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s or "").replace("’", "'").replace("‘", "'")
    return " ".join(re.sub(r"[^\w$%.,'\- ]+", " ", s).split()).lower().strip(" .")


def _is_furniture(sentence: str, headline: str) -> bool:
    """A call to action, or the headline repeated inside the text."""
    if _FURNITURE.match(sentence):
        return True
    s = _norm(sentence)
    return bool(headline) and bool(s) and (s == headline or (s in headline and len(s) >= 0.8 * len(headline)))


# ----------------------------------------------------------------------------- ranking


SPREAD = 0.5  # bonus of the first sentence over the last, for figures deep in a long article
CROWD = 0.25  # per doubling of the distinct values of a kind and unit in one document


def _rank(found: list[tuple[Sentence, _Found]], title: str, sentences: Sequence[Sentence]
          ) -> list[tuple[Sentence, _Found]]:
    """One entry per distinct figure, most important first (ties in document order)."""
    order = {s.sentence: i for i, s in enumerate(sentences)}
    clusters: list[list[tuple[Sentence, _Found]]] = []
    by_identity: dict[tuple, list[list[tuple[Sentence, _Found]]]] = {}
    for sent, f in found:
        same = by_identity.setdefault(_identity(sent.text, f), [])
        home = next((c for c in same[:20] if _same_figure(c[0], (sent, f))), None)
        if home is None:
            home = []
            same.append(home)
            clusters.append(home)
        home.append((sent, f))
    headline_numbers = _numbers_in(title)
    values: dict[tuple[str, str], list[float]] = {}
    for c in clusters:
        f = c[0][1]
        values.setdefault((f.kind, _base(f.unit)), []).append(f.value)
    ranked = []
    salient: dict[int, bool] = {}
    for c in clusters:
        sent, f = c[0]
        position = order.get(sent.sentence, 0)
        score = _KIND_WEIGHT.get(f.kind, 2.0)
        score += 2.0 / (1.0 + position / 4.0)  # the lead and the first paragraphs
        score += SPREAD * (1.0 - position / max(1, len(sentences)))  # the first half of a long article
        score += 0.6 * min(len({s.sentence for s, _ in c}) - 1, 3)  # stated again
        if headline_numbers and _numbers_in(sent.text[f.start:f.end]) & headline_numbers:
            score += 2.5
        if f.weak:
            score -= 0.8
        if _in_parentheses(sent.text, f.start, f.end):
            score -= 1.5
        if _is_table_row(sent.text, f.start):
            score -= 2.0  # a ticker or table row: "HD THE HOME DEPOT INC. 225.86 -12.99 -5.44%"
        if f.kind == "score" and not _in_parentheses(sent.text, f.start, f.end) and _RESULT.search(f.label):
            score += 0.6  # a result ("Wales beat Hungary 2-0"), not a record or a half-time score
        if salient.setdefault(sent.sentence, bool(_SALIENT.search(sent.text))):
            score += 0.3
        peers = sorted(set(values[(f.kind, _base(f.unit))]), reverse=True)
        if len(peers) >= 3:
            score -= CROWD * math.log2(len(peers))  # one of many: a box score, a list of bonds
        if f.kind in ("money", "count", "quantity") and len(peers) >= 3 and f.value in peers[:2]:
            score += 0.4 if f.value == peers[0] else 0.2  # the top scorer, the biggest sum of its kind
        ranked.append((-score, sent.start + f.start, sent, f))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [(sent, f) for _, _, sent, f in ranked]


def _line(sentence: str, at: int) -> str:
    """The line of ``sentence`` around ``at`` (at most 300 characters either side)."""
    lo, hi = max(0, at - 300), min(len(sentence), at + 300)
    start = sentence.rfind("\n", lo, at) + 1 or lo
    end = sentence.find("\n", at, hi)
    return sentence[start:end if end >= 0 else hi]


_NUMERIC_TOKEN = re.compile(r"(?<!\S)[-+$€£(]*\d[\d,.]*[%)]*(?!\S)")


def _numeric_tokens(line: str) -> int:
    return len(_NUMERIC_TOKEN.findall(line))


def _is_ticker_row(sentence: str, at: int) -> bool:
    """A quote widget's row, "| HD | THE HOME DEPOT INC. | 225.86 | -12.99 | -5.44% |": no lowercase, several numbers."""
    line = _line(sentence, at)
    return not re.search(r"[a-z]", line) and _numeric_tokens(line) >= 2


def _is_table_row(sentence: str, at: int) -> bool:
    """The figure's line is mostly numbers: a row of a table or a box score."""
    line = _line(sentence, at)
    tokens = [t for t in line.split() if re.search(r"\w", t)]
    numeric = _numeric_tokens(line)
    return numeric >= 4 and numeric >= 0.4 * len(tokens)


def _base(unit: str) -> str:
    """"USD per share" is counted with "USD" when weighing how many figures of a kind a document has."""
    return unit.split(" per ", 1)[0]


def _identity(sentence: str, f: _Found) -> tuple:
    """Figures with different identities are different figures."""
    if f.kind == "score":
        return ("score", sentence[f.start:f.end])
    if f.kind == "percent":
        return ("percent", round(f.value, 9))  # "2% of GDP" and "the 2% target" are one figure
    if f.kind == "money":
        return ("money", _base(f.unit), round(f.value, 9))  # "$53 million a week" and "the $53 million figure"
    return (f.kind, f.unit, round(f.value, 9))


def _same_figure(first: tuple[Sentence, _Found], other: tuple[Sentence, _Found]) -> bool:
    """Two mentions with the same identity are one figure when the sentence is repeated, the value is
    distinctive ("$27.2 billion", "3.5%", "1,200 troops"), or their labels share a content word; "6 points"
    of one player and "6 points" of another are two."""
    (s1, f1), (s2, f2) = first, other
    if s1.text == s2.text or f1.kind in ("money", "percent", "index", "fraction", "year", "quantity"):
        return True
    if f1.value != int(f1.value) or abs(f1.value) >= 100:
        return True
    words = {w.lower().strip(",.;:()“”\"'’") for w in _content_words(f1.label)}
    shared = words & {w.lower().strip(",.;:()“”\"'’") for w in _content_words(f2.label)}
    return len(shared) >= 2 or (len(shared) == 1 and len(words) == 1)


def _numbers_in(text: str) -> set[float]:
    """The numbers a headline states, in digits or words ("sixth", "seven", "40,816.38")."""
    out = set()
    for m in re.finditer(rf"\d[\d,]*(?:\.\d+)?|[A-Za-z]+(?:-[a-z]+)?", text or ""):
        w = m.group().lower()
        value = _number(w) if w[0].isdigit() else _WORD_VALUES.get(w, _ORDINAL_WORDS.get(w))
        if value is None and w[0].isdigit():
            value = _number(re.sub(r"(?:st|nd|rd|th)$", "", w))
        if value is not None and not (w[0].isdigit() and re.fullmatch(r"(?:19|20)\d\d", w)):
            out.add(value)
    return out


def _in_parentheses(s: str, a: int, b: int) -> bool:
    lo = max(0, a - 300)
    return s.rfind("(", lo, a) > s.rfind(")", lo, a)


# ----------------------------------------------------------------------------- extraction


def _number(s: str) -> float | None:
    """The value of a digit string ("1,200", "3.5") or a number word ("three", "twenty-five")."""
    s = s.lower().replace(",", "")
    try:
        return float(s)
    except ValueError:
        pass
    tens, _, unit = s.partition("-")
    if tens in _WORD_VALUES and (not unit or unit in _WORD_VALUES):
        return _WORD_VALUES[tens] + (_WORD_VALUES[unit] if unit else 0.0)
    return None


def _scaled(num: str, scale: str | None) -> float | None:
    value = _number(num)
    if value is None:
        return None
    return value * _SCALES[scale.lower()] if scale else value


def _is_plural_noun(word: str) -> bool:
    w = word.lower().strip("’'")
    if w in _IRREGULAR_PLURALS:
        return True
    return (len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "'s", "’s", "ous"))
            and w not in _NOT_PLURAL and w not in _FUNCTION)


def _unit_of(word: str) -> tuple[str, str] | None:
    """(unit, kind) for a time or measure word in any number: "hour" -> ("hours", "duration")."""
    w = word.lower()
    singular = w[:-1] if w.endswith("s") and w[:-1] in _TIME_UNITS else w
    if singular in _TIME_UNITS:
        return _TIME_UNITS[singular], "duration"
    if w in _MEASURES:
        return _MEASURES[w], "quantity"
    if w.endswith("es") and w[:-2] in _MEASURES:
        return _MEASURES[w[:-2]], "quantity"
    if w.endswith("s") and w[:-1] in _MEASURES:
        return _MEASURES[w[:-1]], "quantity"
    return None


def _previous_word(s: str, pos: int) -> str:
    words = s[max(0, pos - 40):pos].split()  # a window: sentences can be long, this runs for every number
    return words[-1].lower().strip("“”\"'(,") if words else ""


def _figures_in(s: str) -> list[_Found]:
    """Figures of one sentence, spans relative to the sentence, in order, never overlapping."""
    if not _ANY_NUMBER.search(s):
        return []  # most sentences: one scan instead of twenty
    found: list[_Found] = []
    taken = bytearray(len(s) + 1)  # 1 where a figure (or a phone number) already sits
    for m in _PHONE.finditer(s):
        taken[m.start():m.end()] = b"\x01" * (m.end() - m.start())

    def add(a: int, b: int, value: float | None, unit: str, kind: str, label: str = "", weak: bool = False) -> None:
        if value is None or 1 in taken[a:b] or value != value or abs(value) == float("inf"):
            return
        taken[a:b] = b"\x01" * (b - a)
        found.append(_Found(a, b, value, unit, kind, label, weak))

    for m in _MONEY_PRE.finditer(s):
        value = _number(m["num"])
        scale = m["scale"] or m["abbr"] or m["abbr2"]
        cur = re.sub(r"\s", " ", m["cur"])
        code = _CURRENCY.get(cur, _CURRENCY.get(cur.replace(" ", ""), "USD"))
        rate = _PER.match(s, m.end())  # "$53 million a week", "$2.52 a share": a rate keeps its period
        add(m.start(), rate.end() if rate else m.end(),
            value * _SCALES[scale.lower()] if value is not None and scale else value,
            f"{code} per {rate['per'].lower()}" if rate else code, "money")
    for m in _MONEY_POST.finditer(s):
        cur = m["cur"].lower()
        if cur == "pounds" and not m["scale"]:
            continue  # "50 pounds" is as likely a weight as money
        if cur.endswith("dollars"):
            code = "CAD" if cur.startswith("canadian") else "AUD" if cur.startswith("australian") else "USD"
        else:
            code = _CURRENCY.get(cur, _CURRENCY.get(m["cur"], cur.upper()))
        value = _scaled(m["num"], m["scale"])
        if value is not None and cur in _INR_SCALES:
            value *= _INR_SCALES[cur]
        add(m.start(), m.end(), value, code, "money", weak=not m["num"][0].isdigit() and not m["scale"])
    for m in _PERCENT.finditer(s):
        value = _number(m["num"])
        unit = "% of GDP" if m["gdp"] else "percentage points" if m["pp"] else "%"
        add(m.start(), m.end(), value / 100 if value is not None else None, unit, "percent")
    for m in _FRACTION.finditer(s):
        n = m["n"].lower()
        if _previous_word(s, m.start()) == "and":
            continue  # "one and a half"
        nxt = _WORD_AFTER.match(s, m.end())
        by = _previous_word(s, m.start()) == "by" and (nxt is None or nxt["w"].lower() in _FUNCTION)
        if (m["sep"] != "-" or n == "a") and not m["of"] and not by:
            continue  # "a third round", "one third time": only "a third of ..." or "cut by a third" is a share
        d = m["d"].lower().rstrip("s")
        d = "half" if d == "halve" else d
        num = 1.0 if n == "a" else _WORD_VALUES[n]
        add(m.start(), m.start("d") + len(m["d"]), num / _DENOMS[d], "fraction", "fraction")
    for m in _HALF.finditer(s):
        if (m["w"] or "").strip().lower() in {"first", "second", "latter", "former", "other", "and", "a"}:
            continue
        add(m.start("half"), m.end("half"), 0.5, "fraction", "fraction")
    for m in _ONE_IN.finditer(s):
        a, b = _number(m["a"]), _number(m["b"])
        if a is not None and b is not None and 0 < a < b <= 1000 and a == int(a) and b == int(b):
            add(m.start(), m.end(), a / b, "fraction", "fraction")
    _ages(s, add)
    _scores(s, add)
    for m in _RATIO.finditer(s):
        add(m.start(), m.end() - 1, _number(m["num"]), "times", "ratio")
    for m in _YEAR.finditer(s):
        after = _WORD_AFTER.match(s, m.end())
        if after and _is_plural_noun(after["w"]):
            continue  # "cut by 2000 troops"
        add(m.start(), m.end(), float(m["year"]), "year", "year")
    for m in _HYPHEN_UNIT.finditer(s):
        _hyphenated(s, m, add)
    for m in _DOZEN.finditer(s):
        _count(s, m, add, value=6.0 if m["a"].lower().startswith("half") else 12.0)
    for m in _NUMBER.finditer(s):
        _count(s, m, add)
    for m in _PARTITIVE.finditer(s):
        num = m["num"]
        if num.lower() == "one" or not (_is_plural_noun(m["w"]) or m["w"][0].isupper()):
            continue  # "one of the ..." is not a count
        add(m.start("num"), m.end("num"), _number(num), m["w"].lower(), "count", weak=True)
    for m in _ORDINAL.finditer(s):
        w = m["w"].lower()
        if w in _ORDINAL_NOT or w in _MONTHS or _previous_word(s, m.start()) in _MONTHS:
            continue
        add(m.start(), m.end(), float(m["num"]), w, "ordinal")
    for m in _INDEX_LEVEL.finditer(s):
        add(m.start(), m.end(), _number(m.group()), "points", "index")
    for m in _AS_MANY.finditer(s):
        add(m.start("num"), m.end("num"), _number(m["num"]), "count", "count", weak=True)
    found = [f for f in found if not _is_conversion(s, f, found)]
    found.sort(key=lambda f: f.start)
    return found


def _is_conversion(s: str, f: _Found, found: list[_Found]) -> bool:
    """"39 miles (63 kilometers)", "$10 (£8)": the bracketed figure restates the one before it."""
    before = s[max(0, f.start - 8):f.start].rstrip()
    if not before.endswith("(") or f.kind not in ("quantity", "money", "duration"):
        return False
    open_at = f.start - 8 + len(before) - 1 if f.start >= 8 else len(before) - 1
    return any(open_at - 8 <= g.end <= open_at and not s[g.end:open_at].strip() and g.kind == f.kind for g in found)


def _ages(s: str, add: Callable[..., None]) -> None:
    """"48-year-old", "aged 47", "Carlineo Jr., 55, of Addison"."""
    for m in _AGE_OLD.finditer(s):
        value = _number(m["num"])
        months = "month" in m.group().lower()
        noun = _noun_after(s, m.end())
        label = f"age of the {noun}" if noun else "age"
        add(m.start(), m.end(), value, "months" if months else "years", "age", label=_clip_label(label))
    for m in _AGED.finditer(s):
        value = _number(m["num"])
        if value is not None and 0 < value < 120:
            add(m.start("num"), m.end("num"), value, "years", "age")
    for m in _COMMA_AGE.finditer(s):
        nm = _NAME_BEFORE.search(s, max(0, m.start() - 80), m.start())
        if nm is None:
            continue
        names = [w for w in nm["name"].split() if w.strip(".").lower() not in ("jr", "sr", "ii", "iii", "iv")]
        value = _number(m["num"])
        if not names or value is None or not 0 < value < 120:
            continue
        if any(w.lower().strip(".") in _NOT_NAMES for w in nm["name"].split()[-1:]):
            continue
        if names[0].lower() in _FUNCTION | {"in", "on", "at", "by"} and len(names) == 1:
            continue
        person = names[-1].rstrip(".,")
        add(m.start("num"), m.end("num"), value, "years", "age", label=_clip_label(f"{person}'s age"))


def _noun_after(s: str, pos: int) -> str:
    """Up to three words after ``pos`` that name a thing: "Fort Worth girl", "small-city mayor"."""
    words = []
    for w in s[pos:pos + 120].split()[:3]:
        core = w.strip(",.;:!?()“”\"")
        if not core or core.lower() in _FUNCTION or (core.islower() and core.endswith(("ed", "ing")) and words):
            break
        possessive = core.endswith(("’s", "'s"))
        words.append(core[:-2] if possessive else core)
        if possessive or w[-1:] in ",.;:!?)":
            break
    return " ".join(words)


def _scores(s: str, add: Callable[..., None]) -> None:
    """"45-17", "beat Hungary 2-0", "(6-5, 3-4)": results and records, not ranges of a unit."""
    for m in _SCORE.finditer(s):
        after = _WORD_AFTER.match(s, m.end())
        if after and (_is_plural_noun(after["w"]) or _unit_of(after["w"])):
            unit = _unit_of(after["w"])  # "5-10 years", "20-25 people": a range of something, not a result
            add(m.start(), after.end(), float(m["a"]), unit[0] if unit else after["w"].lower(),
                unit[1] if unit else "count")
            continue
        if after and after["w"].lower() in ("percent", "per", "million", "billion", "thousand", "year-old"):
            continue
        prev = _previous_word(s, m.start())
        if prev in _MONTHS or prev in ("ages", "aged", "between", "from", "no.", "nos.", "route", "interstate"):
            continue
        a, b = int(m["a"]), int(m["b"])
        label = ""
        if _in_parentheses(s, m.start(), m.end()):
            opener = s.rfind("(", 0, m.start())
            team = _words_before(s, opener, 3)
            if team:
                label = f"{team} record"
        add(m.start(), m.end(), float(a), "score", "score", label=_clip_label(label) if label else "")
        del b


def _words_before(s: str, pos: int, n: int) -> str:
    words = s[max(0, pos - 120):pos].split()[-n:]
    caps = []
    for w in reversed(words):
        core = w.strip(",.;:()“”\"")
        if not core or not core[0].isupper():
            break
        caps.insert(0, core)
    return " ".join(caps)


def _hyphenated(s: str, m: re.Match[str], add: Callable[..., None]) -> None:
    """"three-hour interview", "11-game losing streak", "14-inch display", "275-horsepower motor"."""
    w = m["w"].lower()
    if w in _NOT_HYPHEN_UNITS or w in _FUNCTION or len(w) < 2 or w in _SCALES:
        return
    value = _number(m["num"])
    unit = _unit_of(w)
    if unit:
        add(m.start(), m.end(), value, unit[0], unit[1], weak=False)
        return
    if not m["num"][0].isdigit() and w.endswith("s"):
        return  # "two-thirds" is a fraction; "three-pointers" a thing
    nxt = _WORD_AFTER.match(s, m.end())
    if nxt is None or nxt["w"].lower() in _FUNCTION:
        return  # only attributive: "a 10-point lead", not "won 3-nil"
    add(m.start(), m.end(), value, w, "count", weak=True)  # often a type, not an amount: "four-cylinder engine"


def _count(s: str, m: re.Match[str], add: Callable[..., None], value: float | None = None) -> None:
    """A number followed by what it counts: "32 allies", "seven witnesses", "a dozen owners", "50 weeks"."""
    num = m.group()
    prev = _previous_word(s, m.start())
    if prev in _NAME_WORDS or prev in _MONTHS:
        return
    is_digits = num[0].isdigit()
    if is_digits and re.fullmatch(r"(?:18|19|20|21)\d\d", num):
        return  # a year, not a count: "In 2024 allies spent ..."
    if num in ("911", "999", "112"):
        return  # an emergency number: "911 calls"
    if value is None and not is_digits and num.lower() in ("one", "two") and prev in _DETERMINERS:
        return  # "the two leaders": a reference to people already named, not a figure
    pos, scale = m.end(), None
    sm = _SCALE_AFTER.match(s, pos)
    if sm:
        scale, pos = sm.group(1), sm.end()
    amount = value if value is not None else _scaled(num, scale)
    for i in range(4):  # at most three modifiers: "a dozen black female small-business owners"
        wm = _WORD_AFTER.match(s, pos)
        if not wm:
            break
        word = wm["w"]
        unit = _unit_of(word)
        if unit:
            plural = word.lower().endswith("s") or unit[1] == "quantity" or amount == 1
            attributive = i == 0 and bool(_LOWER_WORD.match(s, wm.end())) and not plural
            if plural or attributive:  # "50 weeks", "four straight years", "149 horsepower", "21 day recuperation"
                add(m.start(), wm.end(), amount, unit[0], unit[1])
            return
        if word.lower() == "points" and prev in _CHANGE_VERBS:  # "the Dow fell 102.2 points"
            add(m.start(), wm.end(), amount, "points", "index")
            return
        if _is_plural_noun(word):
            if not _SOURCING.match(s, wm.end()):  # "two people familiar with the talks" names a source
                add(m.start(), wm.end(), amount, word.lower().strip("’'"), "count")
            return
        if word.lower() in _FUNCTION or word.lower() in _SCALES or (not is_digits and word[0].isupper()):
            break  # "One Home Depot refers to ...": a written number counts lowercase things
        pos = wm.end()
    if scale and amount is not None:  # "2.5 million" with no noun
        add(m.start(), sm.end(), amount, "count", "count", weak=True)


# ----------------------------------------------------------------------------- labels


def _clip_label(label: str) -> str:
    words = label.split()[:LABEL_WORDS]
    return _fit(words, [])


def _label(s: str, f: _Found) -> str:
    """What the figure measures, as its clause says it with "…" where the figure stands.

    "Assange faces … in the US" for "18 criminal charges": the subject and verb before the figure and the
    words after it, within its clause, at most LABEL_WORDS words. A clause that opens with the figure
    borrows the clause before it ("Eastern Michigan rolled past Northern Illinois …" for "45-17") unless
    that is a dateline or another sentence, and a verb whose subject opens the sentence gets it back
    ("Hilly and mountainous areas represent … of the surface")."""
    w0 = max(0, f.start - 240)  # only the words near the figure matter: a window keeps long sentences linear
    s = s[w0:f.end + 240]
    a, b = f.start - w0, f.end - w0
    if not _in_parentheses(s, a, b):  # "Home Depot (ticker: HD) reported $2.53": the aside is not the clause
        s = re.sub(r"\([^()]*\)", lambda m: " " * len(m.group()), s[:a]) + s[a:]
    breaks = [m.end() for m in _LEFT_BREAK.finditer(s, 0, a)]
    cut = breaks[-1] if breaks else 0
    left = _clean_left(s[max(cut, a - 120):a])
    first = left.split()[0] if left else ""
    if not w0 and cut > 1 and s[cut - 2:cut] == ", " and first.islower() and first not in _FUNCTION:
        # "Hilly and mountainous areas, thought to ..., represent 14 percent": the verb's subject opens the sentence
        subject = re.split(r",\s|\s-\s|[;:—–(]", s[:cut])[0].strip()
        words = subject.split()
        if words and words[0][0].isupper() and words[0].lower() not in _FUNCTION and len(words) <= 5:
            left = f"{subject} {left}"
    # "—a 20% increase compared to 2023": a figure that modifies its noun needs no clause before it
    modifies = not left and bool(_DETERMINER.search(" " + s[cut:a])) and bool(re.match(r"\s?[a-z]", s[b:])) \
        and (s[b:].split() or [""])[0].lower() not in _FUNCTION
    if len(_content_words(left)) < 2 and cut > 0 and not s[:cut].rstrip().endswith(("that", ".")) \
            and not _DATELINE.match(s[:cut]) and not modifies:
        # "Northern Illinois, 45-17,", "down for four straight years, down well over 60%": take the clause before
        prev = [m.end() for m in _LEFT_BREAK.finditer(s, 0, max(0, cut - 2))]
        before = _clean_left(s[prev[-1] if prev else 0:cut].rstrip(" ,(—–-"))
        if _content_words(before):
            left = f"{before} {left}".strip()
    rm = _RIGHT_BREAK.search(s, b)
    right = _FILLER.sub("", s[b:rm.start() if rm else len(s)] + " ").strip(" .")
    if f.unit and f.kind == "count" and right.lower().startswith(("of the", "of its", "of their")):
        right = right.split(" ", 2)[2] if len(right.split(" ", 2)) > 2 else ""  # "five of the 10 Democrats ..."
    lw, rw = left.split(), right.split()
    rw = rw[:max(4, LABEL_WORDS - len(lw))] if rw else []
    while rw and rw[-1].lower().strip(",;:") in _FUNCTION:
        rw.pop()
    lw = lw[-max(0, LABEL_WORDS - len(rw)):] if LABEL_WORDS > len(rw) else []
    years = [m.group(1) for m in _CONTEXT_YEAR.finditer(s, 0, a)]
    year = years[-1] if years and f.kind != "year" and not re.search(r"\b(?:19|20)\d\d\b", " ".join(lw + rw)) else ""
    label = _cloze(lw, rw, LABEL_MAX - (7 if year else 0))
    if year:
        label += f" ({year})"
    if not _content_words(label):  # e.g. "At 4-7, ...": the sentence's main clause says what it is about
        rest = [c.strip() for c in re.split(r",\s|[;:—–()]", s[b:]) if _content_words(c)]
        if rest:
            label = _cloze([], _plain_words(rest[-1] if len(rest) > 1 else rest[0])[:LABEL_WORDS], LABEL_MAX)
            label = label.removeprefix("… ")
    if not _content_words(label):
        label = _cloze(_plain_words(s[:a])[-5:], _plain_words(s[b:])[:3], LABEL_MAX)
    return label or s[:LABEL_MAX].strip()


def _cloze(left: list[str], right: list[str], limit: int) -> str:
    """Words around the figure with "…" where it stands, trimmed from the far ends to ``limit`` chars."""
    left, right = list(left), list(right)
    while left and left[-1].lower().strip(",;:") in ("the", "a", "an") and right:
        left.pop()  # "the … target" reads as well as "the 2% target" but "… target" is shorter
        break
    while len(" ".join(left + ["…"] + right)) > limit and (left or right):
        if right and (len(right) > 3 or not left):
            right.pop()
        else:
            left.pop(0)
    while right and right[-1].lower().strip(",;:") in _FUNCTION:
        right.pop()
    while left and left[0].lower().strip(",;:") in ("and", "or", "but", "of", "to", "than", "by", "with", "that"):
        left.pop(0)
    if not left and not right:
        return ""
    return " ".join([*left, "…", *right]).strip(" ,;:")


def _clean_left(left: str) -> str:
    left = _LEADING_CONJ.sub("", left.strip())
    left = _FILLER.sub("", _FILLER.sub("", left + " ")).strip()
    left = _LEADING_CONJ.sub("", left)
    while True:  # drop "at least", "a", "of" ... next to the figure
        trimmed = _QUALIFIERS.sub("", left)
        if trimmed == left:
            break
        left = trimmed
    return left.strip()


def _content_words(text: str) -> list[str]:
    return [w for w in text.split() if w.lower().strip(",.;:()“”\"'") not in _FUNCTION and re.search("[A-Za-z]", w)]


def _fit(left: list[str], right: list[str], limit: int = LABEL_MAX) -> str:
    """Join words, dropping from the far ends until the phrase fits in ``limit`` characters."""
    left, right = list(left), list(right)
    while len(" ".join(left + right)) > limit and (left or right):
        if right and (len(right) > 3 or not left):
            right.pop()
        else:
            left.pop(0)
    while right and right[-1].lower().strip(",;:") in _FUNCTION:
        right.pop()
    if not right:
        while left and left[-1].lower().strip(",;:") in _FUNCTION - {"said", "says"}:
            left.pop()
    while left and left[0].lower().strip(",;:") in ("and", "or", "but", "of", "to", "than", "by", "with"):
        left.pop(0)
    return " ".join(left + right).strip(" ,;:")


def _plain_words(s: str) -> list[str]:
    """Words of ``s`` without numbers, scale words or brackets, for a fallback label."""
    words = (w.strip("()[]“”\"',;:.—–") for w in s.split())
    return [w for w in words if w and not any(c.isdigit() for c in w) and w.lower() not in _SCALES
            and not re.fullmatch(r"\W+", w)]

