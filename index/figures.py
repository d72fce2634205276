"""Key figures of an article: money, percentages, fractions, counts and target years, each with a label.

Why hand-written regexes rather than a library (measured on the seed article plus the 28 positive and
12 negative cases in tests/test_figures.py):

- quantulum3 0.10: 16/28 positives right, 2/12 negatives clean (Article 5, phone numbers, "February 13",
  "10:30", "the two leaders", "Ukraine's 2025 budget" all come back as quantities); no "% of GDP", no
  counted nouns ("32 allies" is a dimensionless 32), "£3bn" parses as "pound sterling bit newton",
  "$2.5m" as "square dollar".
  Import 0.14 s, about 50 ms on the seed article, and it still needs our own filtering and labels.
- price-parser 0.5: money only, 2/10 of the money cases (it ignores "billion"/"bn"), no spans.
- these regexes: 28/28 and 12/12, well under a millisecond per sentence, no extra dependency.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.models import Figure, Sentence

log = logging.getLogger(__name__)

LABEL_MAX = 60

_UNITS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUES = {w: float(i + 1) for i, w in enumerate(_UNITS)} | {w: float(20 + 10 * i) for i, w in enumerate(_TENS)}
_SCALES = {"trillion": 1e12, "billion": 1e9, "million": 1e6, "thousand": 1e3,
           "tn": 1e12, "trn": 1e12, "bn": 1e9, "bln": 1e9, "mn": 1e6, "mln": 1e6, "m": 1e6, "k": 1e3}

_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORDNUM = rf"(?:{'|'.join(_TENS)})(?:-(?:{'|'.join(_UNITS[:9])}))?|{'|'.join(sorted(_UNITS, key=len, reverse=True))}"
# A number not glued to other digits, times, dates or ranges ("10:30", "202-555", "3/4", "1st").
_NUM_OPEN = rf"(?<![\w.,:/+\-])(?:{_DIGITS}|(?i:{_WORDNUM}))"
_NUM = rf"{_NUM_OPEN}(?![\w%]|[.,:/\-]\d)"
_SCALE = r"(?i:trillion|billion|million|thousand)"

_MONEY_PRE = re.compile(
    r"(?<![\w$])(?P<cur>US\$|U\.S\.\s?\$|CA?\$|AU?\$|HK\$|NZ\$|\$|€|£|¥|(?:USD|EUR|GBP|JPY)(?=\s))\s?"
    rf"(?P<num>{_DIGITS})(?:\s(?P<scale>{_SCALE})\b|\s?(?P<abbr>tn|trn|bn|bln|mn|mln)\b|(?P<abbr2>m|k)\b)?"
    r"(?![\w%]|[.,:/\-]\d)")
_MONEY_POST = re.compile(
    rf"(?P<num>{_NUM})(?:\s(?P<scale>{_SCALE}))?\s(?P<cur>(?:(?:US|U\.S\.|Canadian|Australian)\s)?dollars|"
    r"euros?|pounds(?:\ssterling)?|yen|yuan|r[o]?ubles|USD|EUR|GBP)\b")
_PERCENT = re.compile(
    rf"(?P<num>{_NUM_OPEN})(?![.,:/\-]\d)(?:\s?%|\s(?i:percent|per\scent)\b|\s(?P<pp>percentage\spoints?)\b)"
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
_NUMBER = re.compile(_NUM)
_SCALE_AFTER = re.compile(rf"\s({_SCALE})\b")
_WORD_AFTER = re.compile(r"\s(?P<w>[A-Za-z][A-Za-z’'\-]*)")
_PHONE = re.compile(r"(?:\+\d{1,3}[\s.\-]?)?\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}\b")
_CONTEXT_YEAR = re.compile(r"\b(?:[Ii]n|[Dd]uring|[Ff]or|[Ff]iscal)\s((?:19|20)\d\d)\b")

_CURRENCY = {"$": "USD", "US$": "USD", "U.S.$": "USD", "U.S. $": "USD", "USD": "USD", "C$": "CAD", "CA$": "CAD",
             "A$": "AUD", "AU$": "AUD", "HK$": "HKD", "NZ$": "NZD", "€": "EUR", "EUR": "EUR", "£": "GBP",
             "GBP": "GBP", "¥": "JPY", "JPY": "JPY", "euro": "EUR", "euros": "EUR", "pounds": "GBP",
             "pounds sterling": "GBP", "yen": "JPY", "yuan": "CNY", "rubles": "RUB", "roubles": "RUB"}
# Words that put a number in a name, a date or a list position rather than a quantity.
_NAME_WORDS = set(("article section chapter resolution paragraph no no. number flight route room page rule phase "
                   "level grade category stage amendment protocol item point clause title volume vol. part act "
                   "round vote district highway road gate terminal unit division brigade squadron").split())
_MONTHS = set(("january february march april may june july august september october november december "
               "jan jan. feb feb. mar mar. apr apr. jun jun. jul jul. aug aug. sep sep. sept sept. oct oct. "
               "nov nov. dec dec.").split())
_FUNCTION = set(("a an the of and or to in on at for with by from that which who whom whose was were is are be "
                 "been being will would could should can may might must has have had said says than more less "
                 "per as into over under about after before since until this these those its it their his her "
                 "our your not no so if but while when where also just only then there here each every all").split())
_NOT_PLURAL = set(("its this his hers ours theirs yours was has does as thus plus minus versus us yes perhaps always "
                   "sometimes towards afterwards besides whereas percent times ones others").split())
_IRREGULAR_PLURALS = set("people personnel children men women police staff aircraft cattle livestock".split())
_QUALIFIERS = re.compile(
    r"(?:\s|^)(?:at least|at most|more than|less than|fewer than|up to|nearly|almost|about|around|roughly|some|"
    r"over|under|just|only|approximately|an estimated|a total of|as much as|as many as|a|an|the|of|to|by|at|"
    r"from|with|for|than|and|or|but)\s*$", re.IGNORECASE)
_LEFT_BREAK = re.compile(
    r"[;:—–“”\"()]|,\s|\s-\s|\bthat\b|\b(?:said|says|noted|added|told reporters|according to)\b")
_RIGHT_BREAK = re.compile(r"[;:—–“”\"()]|,\s|\s-\s|\.(?:\s|$)|\b(?:and|but|while|whereas|although)\b")
_FILLER = re.compile(r"\b(?:now|currently|also|still|already|reportedly)\s|\b(?:are|is|were|was)\s(?=\w+ing\b)")
_LEADING_CONJ = re.compile(r"^(?:and|or|but|while|which|who|as|so|then|because)\s+", re.IGNORECASE)
_DETERMINER = re.compile(r"(?:^|\s)(?:a|an|the)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class _Found:
    """A figure inside one sentence, before it is placed in the document."""

    start: int
    end: int
    value: float
    unit: str
    kind: str


def extract_figures(doc_id: str, text: str, sentences: Sequence[Sentence]) -> list[Figure]:
    """Key figures of a document, in document order; each Figure's start/end is its span in `text`."""
    figures: list[Figure] = []
    for sent in sentences:
        if text[sent.start:sent.end] != sent.text:
            log.warning("sentence %d of %s does not match its span %d:%d; skipped", sent.sentence, doc_id,
                        sent.start, sent.end)
            continue
        for f in _figures_in(sent.text):
            figures.append(Figure(
                doc_id=doc_id, text=sent.text[f.start:f.end], value=f.value, unit=f.unit, kind=f.kind,
                label=_label(sent.text, f), paragraph=sent.paragraph, sentence=sent.sentence,
                start=sent.start + f.start, end=sent.start + f.end, citation=None, sentence_text=sent.text))
    figures.sort(key=lambda fig: fig.start)
    return figures


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
    w = word.lower()
    if w in _IRREGULAR_PLURALS:
        return True
    return (len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "'s", "’s"))
            and w not in _NOT_PLURAL and w not in _FUNCTION)


def _previous_word(s: str, pos: int) -> str:
    words = s[:pos].split()
    return words[-1].lower().strip("“”\"'(,") if words else ""


def _figures_in(s: str) -> list[_Found]:
    """Figures of one sentence, spans relative to the sentence, in order, never overlapping."""
    found: list[_Found] = []
    taken: list[tuple[int, int]] = [m.span() for m in _PHONE.finditer(s)]

    def free(a: int, b: int) -> bool:
        return all(b <= x or a >= y for x, y in taken)

    def add(a: int, b: int, value: float | None, unit: str, kind: str) -> None:
        if value is None or not free(a, b):
            return
        taken.append((a, b))
        found.append(_Found(a, b, value, unit, kind))

    for m in _MONEY_PRE.finditer(s):
        value = _number(m["num"])
        scale = m["scale"] or m["abbr"] or m["abbr2"]
        cur = re.sub(r"\s", " ", m["cur"])
        add(m.start(), m.end(), value * _SCALES[scale.lower()] if value is not None and scale else value,
            _CURRENCY.get(cur, _CURRENCY.get(cur.replace(" ", ""), "USD")), "money")
    for m in _MONEY_POST.finditer(s):
        cur = m["cur"].lower()
        if cur == "pounds" and not m["scale"]:
            continue  # "50 pounds" is as likely a weight as money
        if cur.endswith("dollars"):
            code = "CAD" if cur.startswith("canadian") else "AUD" if cur.startswith("australian") else "USD"
        else:
            code = _CURRENCY.get(cur, cur.upper())
        add(m.start(), m.end(), _scaled(m["num"], m["scale"]), code, "money")
    for m in _PERCENT.finditer(s):
        value = _number(m["num"])
        unit = "% of GDP" if m["gdp"] else "percentage points" if m["pp"] else "%"
        add(m.start(), m.end(), value / 100 if value is not None else None, unit, "percent")
    for m in _FRACTION.finditer(s):
        n = m["n"].lower()
        if (m["sep"] != "-" or n == "a") and not m["of"]:
            continue  # "a third round", "one third time": only "a third of ..." is a share
        if _previous_word(s, m.start()) == "and":
            continue  # "one and a half"
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
    for m in _YEAR.finditer(s):
        after = _WORD_AFTER.match(s, m.end())
        if after and _is_plural_noun(after["w"]):
            continue  # "cut by 2000 troops"
        add(m.start(), m.end(), float(m["year"]), "year", "year")
    for m in _NUMBER.finditer(s):
        _count(s, m, add)
    found.sort(key=lambda f: f.start)
    return found


def _count(s: str, m: re.Match[str], add: Callable[[int, int, float | None, str, str], None]) -> None:
    """A number followed by what it counts: "32 allies", "1,200 troops", "three million people"."""
    num = m.group()
    prev = _previous_word(s, m.start())
    if prev in _NAME_WORDS or prev in _MONTHS:
        return
    is_digits = num[0].isdigit()
    if is_digits and re.fullmatch(r"(?:18|19|20|21)\d\d", num):
        return  # a year, not a count: "In 2024 allies spent ..."
    pos, scale = m.end(), None
    sm = _SCALE_AFTER.match(s, pos)
    if sm:
        scale, pos = sm.group(1), sm.end()
    if not is_digits and not scale:
        return  # "one of the", "the two leaders": small written numbers are not figures
    for _ in range(3):  # at most two modifiers: "40,000 Ukrainian soldiers"
        wm = _WORD_AFTER.match(s, pos)
        if not wm:
            return
        word = wm["w"]
        if _is_plural_noun(word):
            add(m.start(), wm.end(), _scaled(num, scale), word.lower(), "count")
            return
        if word.lower() in _FUNCTION or word.lower() in _SCALES:
            return
        pos = wm.end()


def _label(s: str, f: _Found) -> str:
    """A short phrase from the sentence saying what the figure measures."""
    a = f.start
    breaks = [m.end() for m in _LEFT_BREAK.finditer(s, 0, a)]
    left = s[breaks[-1] if breaks else 0:a]
    rm = _RIGHT_BREAK.search(s, f.end)
    right = s[f.end:rm.start() if rm else len(s)].strip(" .")
    left = _LEADING_CONJ.sub("", left.strip())
    det = _DETERMINER.search(" " + left)
    # "the 2% target", "a $2.5m contract": the figure modifies the noun after it; keep the article
    modifier = det is not None and bool(re.match(r"[A-Za-z]", right)) and right.split()[0].lower() not in _FUNCTION
    while True:  # drop "at least", "a", "of" ... next to the figure
        trimmed = _QUALIFIERS.sub("", left)
        if trimmed == left:
            break
        left = trimmed
    if modifier and det is not None and left:
        article = det.group().strip().lower()
        left += f" {'an' if right[0].lower() in 'aeiou' else 'a'}" if article in ("a", "an") else f" {article}"
    left, right = _FILLER.sub("", _FILLER.sub("", left)), _FILLER.sub("", _FILLER.sub("", right))
    label = _fit(left.split()[-10:], right.split()[:12]).strip(" ,;:-—")
    years = [m for m in _CONTEXT_YEAR.finditer(s, 0, a) if m.group(1) not in label]
    if years and f.kind != "year" and not re.search(r"\b(?:19|20)\d\d\b", label):
        label = _fit(label.split(), [], LABEL_MAX - 7) + f" ({years[-1].group(1)})"
    if not label:  # e.g. "($108 billion)": fall back to the plain words around the figure
        label = _fit(_plain_words(s[:a])[-6:], _plain_words(s[f.end:])[:4])
    return label or s[:LABEL_MAX].strip()


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
    return " ".join(left + right).strip(" ,;:")


def _plain_words(s: str) -> list[str]:
    """Words of ``s`` without numbers, scale words or brackets, for a fallback label."""
    words = (w.strip("()[]“”\"',;:.—–") for w in s.split())
    return [w for w in words if w and not any(c.isdigit() for c in w) and w.lower() not in _SCALES
            and not re.fullmatch(r"\W+", w)]
