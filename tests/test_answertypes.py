"""What a question asks for, and which sentences hold it (index/answertypes.py)."""

from __future__ import annotations

import pytest

from index.answertypes import TYPES, asked_measure, holds_measure, question_types, sentence_types


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("How old is the guy who threatened Ilhan Omar?", ("age",)),
        ("Who leads ESA's SciSpacE team?", ("person",)),
        ("Which think-tank expert is quoted on the trade talks?", ("person",)),
        ("What weapons did the man who threatened Omar keep at home?", ()),  # "who" opens a clause, not the question
        ("When will Austria choose a design?", ("date",)),
        ("When was the Fort Worth girl kidnapped?", ("date",)),  # "Worth" is not money
        ("Which city is hosting the Democratic debate?", ("place",)),
        ("How many witnesses did the prosecutors talk to?", ("count",)),
        ("How much revenue did Home Depot bring in?", ("money", "percent", "count", "quantity")),
        ("How long was Assange jailed for skipping bail?", ("duration", "date")),
        ("What was the score of the Chargers-Chiefs game?", ("score",)),
        ("What company did Google just buy?", ("name", "person")),
        ("How far can the RAV4 Prime drive on electricity alone?", ("quantity", "count")),
        ("Why did Sweden drop the case?", ()),
    ],
)
def test_question_types(question: str, kinds: tuple[str, ...]) -> None:
    assert question_types(question) == kinds


@pytest.mark.parametrize(
    ("sentence", "kind", "holds"),
    [
        ("Patrick W. Carlineo Jr., 55, of Addison, pleaded guilty.", "age", True),
        ("The 48-year-old Australian was evicted in April.", "age", True),
        ("The man was arrested in April.", "age", False),
        ("Sentencing is scheduled for Feb. 14.", "date", True),
        ("Austria will choose a design in the first half of next year.", "date", True),
        ("Ten candidates will face off in Atlanta.", "place", True),
        ("Revenue rose 3.5 percent to $27.2 billion.", "money", True),
        ("Revenue rose 3.5 percent to $27.2 billion.", "percent", True),
        ("They lost 24-17 to the Chiefs.", "score", True),
        ("He was sentenced to 50 weeks in jail.", "duration", True),
        ("Interviews with seven witnesses were held.", "count", True),
        ("It was said by Team Leader Jennifer Ngo-Anh.", "person", True),
        ("The decision was taken on Tuesday.", "person", False),
    ],
)
def test_sentence_types(sentence: str, kind: str, holds: bool) -> None:
    assert sentence_types(sentence)[TYPES.index(kind)] is holds


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("How much will the new 13-inch MacBook Pro cost?", "money"),
        ("How much money has Deval Patrick's campaign raised?", "money"),
        ("How much did GateHouse pay to buy Gannett?", "money"),
        ("How much revenue did Home Depot bring in for the quarter?", "money"),
        ("What price does Coty need to break to confirm the uptrend?", "money"),
        ("What is the surface temperature on Titan?", "temperature"),
        ("How hot does the battery get?", "temperature"),
        ("What internet speed do you need to play Stadia in 4K?", "speed"),
        ("At what speed did the turbine operate?", "speed"),
        ("How much lighter could a Mars ship be if the crew hibernates?", None),
        ("How much in drugs is seized at the border each week?", None),  # an amount, but maybe a weight
        ("How much of the vote did she win?", None),
        ("How fast is pharmacy informatics growing?", None),  # a rate of growth, not a speed
        ("How many people did Columbus police arrest?", None),
        # "how much" of something else, with a money word further on: a quantity of it, not an amount paid
        ("How much time did she spend in prison?", None),
        ("How much time will the new line cost commuters?", None),
        ("How much longer will the fine weather last?", None),
        ("How much gold did the mine sell last year?", None),
        ("How much is the fine?", "money"),
        ("How much more does the Pro model cost?", "money"),
        ("How much profit did Tesla make?", "money"),
    ],
)
def test_asked_measure(question: str, asks: str | None) -> None:
    assert asked_measure(question) == asks


def test_holds_measure() -> None:
    assert holds_measure("money", "It will start at $44,000.") and holds_measure("money", "a deal worth 600 million euros")
    assert not holds_measure("money", "The entry-level model was last updated in July.")
    assert holds_measure("temperature", "It is -179 °C at the surface.") and holds_measure("speed", "a 16,000 rpm turbine")
    assert holds_measure("speed", "Stadia needs 35 Mbps for 4K.")
    assert not holds_measure("speed", "It will go 230 miles to more than 300 miles per charge.")


@pytest.mark.parametrize(("kind", "text"), [
    # how news pages write them: a unit written onto its number (BBC, Guardian, Reuters style) ...
    ("temperature", "Temperatures reached 40C (104F) in the capital."),
    ("temperature", "It fell to -12C overnight."),
    ("speed", "Winds of up to 70mph are forecast."),
    ("speed", "the 100km/h limit"),
    ("speed", "a 1Gbps fibre line"),
    ("speed", "gusts of 30 m/s"),
    # ... and amounts in words or in other currencies
    ("money", "The deal is worth a billion dollars."),
    ("money", "half a million dollars in fines"),
    ("money", "millions of dollars of damage"),
    ("money", "A loaf now costs 10p more."),
    ("money", "a fine of CHF 40,000"),
    ("money", "It costs 500 kronor a month."),
    ("money", "a 3,000 crore project"),
])
def test_holds_measure_as_news_pages_write_it(kind: str, text: str) -> None:
    """A passage stating the value must not get its question declined (Engine._answer)."""
    assert holds_measure(kind, text)


@pytest.mark.parametrize(("kind", "text"), [
    ("temperature", "Apple's M2 chip has an 8-core CPU."),
    ("speed", "The M/S Estonia sank in 1994."),
    ("speed", "He drove the route in record time."),
    ("money", "The dollar rose against the yen."),
    ("money", "The 1080p model ships in May."),
])
def test_holds_measure_needs_a_value(kind: str, text: str) -> None:
    assert not holds_measure(kind, text)
