"""English text normalization: what the reader writes in, what eSpeak is asked to say.

Plain pytest: no database, no Django.
"""

import importlib
import re
from pathlib import Path

import pytest

from synthesis.engine.normalize import normalize

# (written, spoken). Grouped by category; the input is the test id.
CASES = [
    # Integers, negatives, decimals
    (
        "There are 1,234,567 people.",
        "There are one million two hundred and thirty-four thousand five hundred and sixty-seven people.",
    ),
    ("It was -5 outside.", "It was minus five outside."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("Add .5 cup.", "Add point five cup."),
    ("Room 101.", "Room one oh one."),  # a room number is a name (issue 17), no longer "one hundred and one"
    ("Agent 007.", "Agent zero zero seven."),
    ("Version 1.2.3 is out.", "Version one dot two dot three is out."),
    # Money
    ("It costs $5.", "It costs five dollars."),
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("It costs $1.", "It costs one dollar."),
    ("It costs $0.99.", "It costs ninety-nine cents."),
    ("It costs £20.", "It costs twenty pounds."),
    ("It costs £1.50.", "It costs one pound and fifty pence."),
    ("It costs €3.20.", "It costs three euros and twenty cents."),
    ("They raised $1.5 million.", "They raised one point five million dollars."),
    ("They raised $3bn.", "They raised three billion dollars."),
    ("They raised $2M.", "They raised two million dollars."),
    ("A $5 bill.", "A five dollar bill."),
    ("Tickets cost $10-$20.", "Tickets cost ten dollars to twenty dollars."),
    # Percentages
    ("Prices fell 15%.", "Prices fell fifteen percent."),
    ("Prices fell 2.5%.", "Prices fell two point five percent."),
    ("Profits rose 10-20%.", "Profits rose ten to twenty percent."),
    # Ordinals
    ("He came 1st.", "He came first."),
    ("She came 2nd.", "She came second."),
    ("The 23rd floor.", "The twenty-third floor."),
    ("The 101st time.", "The one hundred and first time."),
    # Dates
    ("Due 2024-03-15.", "Due March fifteenth, twenty twenty-four."),
    ("Due March 15, 2024.", "Due March fifteenth, twenty twenty-four."),
    ("Due 15 March 2024.", "Due the fifteenth of March, twenty twenty-four."),
    ("Due 3/15/2024.", "Due March fifteenth, twenty twenty-four."),
    ("Due Sept. 3.", "Due September third."),
    ("On the 4th of July.", "On the fourth of July."),
    # Times
    ("At 3:30 pm.", "At three thirty p m."),
    ("At 3:30pm we met.", "At three thirty p m we met."),
    ("At 15:45 we met.", "At fifteen forty-five we met."),
    ("At 7 a.m. we met.", "At seven a-m we met."),
    ("Meet me at 5 p.m.", "Meet me at five p m."),
    ("At 10:05 we met.", "At ten oh five we met."),
    ("At 9:00 we met.", "At nine o'clock we met."),
    # Years and decades
    ("Built in 1999.", "Built in nineteen ninety-nine."),
    ("Built in 2005.", "Built in two thousand five."),
    ("Built in 2024.", "Built in twenty twenty-four."),
    ("Built in 1900.", "Built in nineteen hundred."),
    ("Built in 2010.", "Built in twenty ten."),
    ("In 2020, 1,500 people came.", "In twenty twenty, one thousand five hundred people came."),
    ("The 1990s were fun.", "The nineteen nineties were fun."),
    ("The '90s were fun.", "The nineties were fun."),
    # Units
    ("It is 1 km away.", "It is one kilometer away."),
    ("It is 5 km away.", "It is five kilometers away."),
    ("A 5 km walk.", "A five kilometer walk."),
    ("It weighs 1 lb.", "It weighs one pound."),
    ("It weighs 5 lbs.", "It weighs five pounds."),
    ("It is 20°C today.", "It is twenty degrees Celsius today."),
    ("It is -5°C today.", "It is minus five degrees Celsius today."),
    ("It has 16 GB of memory.", "It has sixteen gigabytes of memory."),
    ("A 3.2 GHz chip.", "A three point two gigahertz chip."),
    ("Wait 500 ms.", "Wait five hundred milliseconds."),
    ("Drive at 60 mph.", "Drive at sixty miles per hour."),
    ("It is 6 ft tall.", "It is six feet tall."),
    ("A 27in screen.", "A twenty-seven inch screen."),
    ("I have 5 in stock.", "I have five in stock."),
    # Abbreviations
    ("Dr. Smith is here.", "Doctor Smith is here."),
    ("I live on Elm Dr.", "I live on Elm Drive."),
    ("Mr. and Mrs. Jones met Ms. Lee.", "Mister and Missus Jones met Miz Lee."),
    ("Prof. Plum won.", "Professor Plum won."),
    ("Martin Luther King Jr. spoke.", "Martin Luther King Junior spoke."),
    ("Cats vs. dogs.", "Cats versus dogs."),
    ("Apples, pears, etc.", "Apples, pears, et cetera."),
    ("Fruit, e.g., apples.", "Fruit, for example, apples."),
    ("Fruit, i.e. apples.", "Fruit, that is apples."),
    ("It is approx. 5 km.", "It is approximately five kilometers."),
    ("He lives at No. 5.", "He lives at number five."),
    ("We climbed Mt. Everest.", "We climbed Mount Everest."),
    ("They visited St. Louis.", "They visited Saint Louis."),
    ("They live on Main St.", "They live on Main Street."),
    ("They live on Main St. The house is red.", "They live on Main Street. The house is red."),
    # Acronyms (an "A" is hyphened to the next letter: eSpeak reads a lone "A" as the article)
    ("The FBI called.", "The F B I called."),
    ("Our API is fast.", "Our A-P I is fast."),
    ("Write HTML.", "Write H T M L."),
    ("NASA and NATO agreed.", "NASA and NATO agreed."),
    ("Read the APIs.", "Read the A-P I's."),
    ("Ask the CEO's office.", "Ask the C E O's office."),
    ("The U.S. team won.", "The U S team won."),
    ("The AT&T store.", "The A-T and T store."),
    ("World War II ended.", "World War two ended."),
    ("Henry VIII ruled.", "Henry the eighth ruled."),
    # Emails and URLs
    ("Email jane.doe@example.com today.", "Email jane dot doe at example dot com today."),
    ("Visit https://voicehub.example.com/docs.", "Visit voicehub dot example dot com slash docs."),
    ("Visit www.example.org now.", "Visit example dot org now."),
    # Symbols, ranges, fractions
    ("Salt & pepper.", "Salt and pepper."),
    ("2 + 2 = 4.", "two plus two equals four."),
    ("We are #1.", "We are number one."),
    ("Follow @voicehub now.", "Follow at voicehub now."),
    ("It is 4x faster.", "It is four times faster."),
    ("A 4x4 grid.", "A four by four grid."),
    ("Read pages 10-20.", "Read pages ten to twenty."),
    ("Add 1/2 cup.", "Add one half cup."),
    ("Add 3/4 cup.", "Add three quarters cup."),
    ("Add 2 1/2 cups.", "Add two and a half cups."),
    ("Open 24/7.", "Open twenty-four seven."),
    # Phone numbers
    ("Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
    ("Call +1 555 123 4567.", "Call plus one, five five five, one two three, four five six seven."),
    ("Call (555) 123-4567.", "Call five five five, one two three, four five six seven."),
    # Unicode quotes and dashes, whitespace
    ("\u201cHello,\u201d she said \u2014 it\u2019s late.", "\"Hello,\" she said \u2014 it's late."),
    ("Pages 10\u201320.", "Pages ten to twenty."),
    ("Half\u00a0a   loaf  \t of bread.", "Half a loaf of bread."),
]


def _case_id(case):
    return case[0]


@pytest.mark.parametrize(("written", "spoken"), CASES, ids=[_case_id(case) for case in CASES])
def test_it_reads_written_forms_as_spoken_words(written, spoken):
    assert normalize(written) == spoken


def test_the_table_covers_enough_cases():
    assert len(CASES) >= 60
    assert len({written for written, _ in CASES}) == len(CASES), "a case is listed twice"


def _spoken(*written):
    return [normalize(text) for text in written]


def test_it_reads_money_as_spoken_words():
    assert _spoken("$5", "$5.50", "$1", "£20", "€3.20") == [
        "five dollars",
        "five dollars and fifty cents",
        "one dollar",
        "twenty pounds",
        "three euros and twenty cents",
    ]


def test_it_reads_plausible_years_as_years_and_other_numbers_as_cardinals():
    assert _spoken("1999", "1066", "2100", "1,999", "$1999") == [
        "nineteen ninety-nine",
        "one thousand and sixty-six",
        "two thousand one hundred",
        "one thousand nine hundred and ninety-nine",
        "one thousand nine hundred and ninety-nine dollars",
    ]


PLAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! Isn't this a lovely day? I think so; she agreed: yes.",
    "It's a well-known fact that rock'n'roll never dies...",
    "\"Quoted,\" he said (quietly) \u2014 and then left.",
    "Cambridge University is in England, not in Massachusetts.",
    "I am here, and I will stay in the house until noon.",
]


@pytest.mark.parametrize("text", PLAIN_TEXT)
def test_plain_text_passes_through_unchanged(text):
    assert normalize(text) == text


def test_whitespace_is_collapsed_but_line_breaks_are_kept_as_sentence_breaks():
    assert normalize("  Title  \n\n\n  First   line.\r\nSecond\tline.  ") == "Title\n\nFirst line.\nSecond line."


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("Meet me at 5 p.m.", "Meet me at five p m."),
        ("Meet me at 5 p.m. Then we eat.", "Meet me at five p m. Then we eat."),
        ("We eat at 7 p.m., then rest.", "We eat at seven p m, then rest."),
        ("It costs $5.", "It costs five dollars."),
        ("Is it 15%?", "Is it fifteen percent?"),
        ("It is 5 km!", "It is five kilometers!"),
        ("Apples, pears, etc.", "Apples, pears, et cetera."),
        ("Try example.com.", "Try example dot com."),
        ("She lives in the U.S.", "She lives in the U S."),
        ("He said \"at 5 p.m.\"", "He said \"at five p m.\""),
        ("Counting: 1, 2; 3.", "Counting: one, two; three."),
    ],
)
def test_sentence_final_punctuation_is_kept(written, spoken):
    assert normalize(written) == spoken


HOSTILE = [
    "",
    " ",
    "\n\t\r ",
    "\ud800",
    "a\udfffb",
    "\x00\x01\x7f",
    "1" * 400,
    "-" + "9" * 5000,
    "$" + "9" * 400,
    "9" * 400 + "%",
    "9" * 400 + "th",
    "0." + "1" * 400,
    "1/" + "9" * 400,
    "1," * 2000 + "000",
    "99:99 pm",
    "2023-02-30",
    "13/45/2024",
    "$",
    "%",
    "&@#=+°",
    "St.",
    "...",
    "\u00bd\u00bc\u00be",
    "\U0001F600 emoji",
    "A" * 5000,
    "a.b." * 3000,
    "1-" * 3000,
    "www." + "a" * 5000,
    "a" * 5000 + "@b",
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"hostile-{index}" for index in range(len(HOSTILE))])
def test_it_never_raises_on_hostile_input(text):
    result = normalize(text)
    assert isinstance(result, str)
    assert not re.search(r"[\ud800-\udfff\x00-\x08\x7f]", result)


def test_a_huge_number_is_read_digit_by_digit():
    assert normalize("1" * 400) == " ".join(["one"] * 400)


def test_it_never_raises_on_non_strings():
    assert normalize(None) == ""
    assert normalize(12) == "twelve"


SAMPLE = (
    "Dr. Smith paid $5.50 at 3:30 pm on 2024-03-15 for 15% of 20 km, e.g. the FBI API "
    "at https://voicehub.example.com/docs or jane.doe@example.com; call 555-123-4567. "
)


@pytest.mark.parametrize(
    "text",
    [
        (SAMPLE * 200)[:20_000],
        "1" * 20_000,
        "a" * 20_000,
        " \n" * 10_000,
        "1," * 10_000,
        "A " * 10_000,
        "a." * 10_000,
        "1-" * 10_000,
    ],
    ids=["mixed", "digits", "letters", "blank-lines", "commas", "capitals", "dots", "hyphens"],
)
@pytest.mark.timeout(120)
def test_twenty_thousand_characters_normalize_without_runaway_backtracking(text):
    # A hang guard, not a speed assertion: each input takes well under a second
    # (bench/normalize_bench.py prints the figures), while a regex that
    # backtracks catastrophically on one of these shapes would not finish in
    # hours. The timeout is generous enough for any loaded machine.
    spoken = normalize(text)
    assert isinstance(spoken, str)


def test_it_has_no_django_imports():
    source = Path(importlib.import_module("synthesis.engine.normalize").__file__).read_text()
    assert not re.search(r"^\s*(from|import)\s+django", source, re.MULTILINE)
