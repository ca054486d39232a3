"""English text normalization: what the reader writes in, what eSpeak is asked to say.

Plain pytest: no database, no Django.
"""

import importlib
import re
from pathlib import Path

import pytest

from synthesis.engine.normalize import _PASSES, normalize

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


# Every pass of the normalizer, by name: at least one (written, spoken) case
# each, so a pass added without a case fails test_every_pass_has_a_case.
PASS_CASES = {
    "_code_fence": [
        ("Run this:\n```python\nx = 1\nprint(x)\n```\nDone.", "Run this:\nx equals one.\nprint(x).\nDone."),
    ],
    "_setext_heading": [("Install\n=======\nRun it.", "Install.\nRun it."), ("Usage\n-----\nRun it.", "Usage.\nRun it.")],
    "_horizontal_rule": [("One.\n\n---\n\nTwo.", "One.\n\nTwo."), ("One.\n* * *\nTwo.", "One.\nTwo.")],
    "_table_separator": [("| A | B |\n|---|:--:|", "A, B.")],
    "_table_row": [("| Fruit | Price |\n| --- | --- |\n| Apple | $1 |", "Fruit, Price.\nApple, one dollar.")],
    "_blockquote": [("> To be or not to be.\n> > That is it.", "To be or not to be.\nThat is it.")],
    "_heading": [
        ("# Getting started\nInstall it.", "Getting started.\nInstall it."),
        ("## Why? ##\nBecause.", "Why?\nBecause."),
    ],
    "_list_item": [
        ("Buy:\n- milk\n* eggs\n+ bread", "Buy:\nmilk.\neggs.\nbread."),
        ("1. Preheat the oven\n2) Mix well.", "Preheat the oven.\nMix well."),
        ("- [x] Done\n- [ ] Not yet", "Done.\nNot yet."),
    ],
    "_link_definition": [("See the guide.\n[guide]: https://example.com/guide", "See the guide.")],
    "_link": [
        ("Read [the docs](https://example.com/docs) now.", "Read the docs now."),
        ("A photo: ![a cat on a mat](cat.png)", "A photo: a cat on a mat"),
        ("See [Python](https://en.wikipedia.org/wiki/Python_(language)).", "See Python."),
        ("See [the guide][guide].", "See the guide."),
    ],
    "_autolink": [("Go to <https://example.com>.", "Go to example dot com.")],
    "_code_span": [("Run `pip install voicehub` first.", "Run pip install voicehub first.")],
    "_emphasis": [
        ("It is **very** *hot* and _dry_.", "It is very hot and dry."),
        ("***Never*** do ~~that~~ this.", "Never do that this."),
        ("**Bold *and italic***", "Bold and italic"),
    ],
    "_email": [("Email jane.doe@example.com today.", "Email jane dot doe at example dot com today.")],
    "_url": [("Visit https://voicehub.example.com/docs.", "Visit voicehub dot example dot com slash docs.")],
    "_file_name": [
        ("Open report.pdf and run setup.py.", "Open report dot P D F and run setup dot P Y."),
        ("Edit config.json.", "Edit config dot JSON."),
    ],
    "_www": [("Type www first.", "Type W W W first."), ("It starts with www.", "It starts with W W W.")],
    "_hashtag": [
        ("Shop #BlackFriday deals.", "Shop hashtag Black Friday deals."),
        ("Join #100DaysOfCode.", "Join hashtag one hundred Days Of Code."),
        ("Start with #include.", "Start with hash include."),
    ],
    "_sharp": [("I write C# and F#.", "I write C sharp and F sharp.")],
    "_zip_code": [
        ("San Francisco, CA 94103.", "San Francisco, C A nine four one zero three."),
        ("ZIP 94103-1234.", "ZIP nine four one zero three, one two three four."),
    ],
    "_phone": [
        ("Call 555-0199.", "Call five five five, zero one nine nine."),
        ("Call 555 0199.", "Call five five five, zero one nine nine."),
        ("Call +1 415 555 0199.", "Call plus one, four one five, five five five, zero one nine nine."),
        ("Call +44 20 7946 0958.", "Call plus four four, two zero, seven nine four six, zero nine five eight."),
        ("Call 1-800-555-0199.", "Call one, eight zero zero, five five five, zero one nine nine."),
        ("Call (555) 123-4567 now.", "Call five five five, one two three, four five six seven now."),
        ("In an emergency call 911.", "In an emergency call nine one one."),
        ("We have 911 members.", "We have nine hundred and eleven members."),
    ],
    "_number_sign": [("We are #1.", "We are number one.")],
    "_weekday": [
        ("Open Mon-Fri.", "Open Monday to Friday."),
        ("Closed Sat, Mar 3.", "Closed Saturday, March third."),
        ("See you Tue.", "See you Tuesday."),
        ("The Sun sat low.", "The Sun sat low."),
    ],
    "_address": [
        ("Apt 4B, 12 Oak Rd.", "Apartment four B, twelve Oak Road."),
        ("Ste 200 on 5th Ave.", "Suite two hundred on fifth Avenue."),
        ("Sunset Blvd is long.", "Sunset Boulevard is long."),
        ("Sing Ave Maria.", "Sing Ave Maria."),
    ],
    "_iso_date": [("Due 2024-03-15.", "Due March fifteenth, twenty twenty-four.")],
    "_slash_date": [("Due 3/15/2024.", "Due March fifteenth, twenty twenty-four.")],
    "_month_day": [("Due March 15, 2024.", "Due March fifteenth, twenty twenty-four.")],
    "_day_month": [("Due 15 March 2024.", "Due the fifteenth of March, twenty twenty-four.")],
    "_range": [("Read pages 10-20.", "Read pages ten to twenty."), ("From 1990-1995.", "From nineteen ninety to nineteen ninety-five.")],
    "_clock_time": [
        ("At 3:30 pm.", "At three thirty p m."),
        ("At 3.30 pm.", "At three thirty p m."),  # British; Whisper writes it so for bf_emma
        ("It cost 3.30 million.", "It cost three point three zero million."),
    ],
    "_hour_time": [("At 7 a.m. we met.", "At seven a-m we met.")],
    "_dotted_numbers": [("Version 1.2.3 is out.", "Version one dot two dot three is out.")],
    "_money_before": [("It costs $5.50.", "It costs five dollars and fifty cents.")],
    "_money_after": [("It costs 50¢.", "It costs fifty cents.")],
    "_percent": [("Prices fell 15%.", "Prices fell fifteen percent.")],
    "_dimensions": [("A 4x4 grid.", "A four by four grid.")],
    "_multiplier": [("It is 4x faster.", "It is four times faster.")],
    "_plural_number": [("The 1990s were fun.", "The nineteen nineties were fun.")],
    "_compound_unit": [
        ("Glucose was 95 mg/dL.", "Glucose was ninety-five milligrams per deciliter."),
        ("Drive at 60 km/h.", "Drive at sixty kilometers per hour."),
        ("It moves at 1 m/s.", "It moves at one meter per second."),
        ("Measured in mg/dL.", "Measured in milligrams per deciliter."),
        ("Yes and/or no.", "Yes and/or no."),
    ],
    "_unit": [("It is 5 km away.", "It is five kilometers away.")],
    "_ordinal_number": [("She came 2nd.", "She came second.")],
    "_named_number": [
        ("Open port 8080.", "Open port eighty eighty."),
        ("Use port 443.", "Use port four forty-three."),
        ("Go to room 101.", "Go to room one oh one."),
        ("Flight 1549 landed.", "Flight fifteen forty-nine landed."),
        ("Dial ext. 1234.", "Dial extension one two three four."),
        ("It says ERROR 404.", "It says ERROR four oh four."),
    ],
    "_year_number": [("Built in 1999.", "Built in nineteen ninety-nine.")],
    "_decimal": [("Pi is 3.14.", "Pi is three point one four.")],
    "_mixed_fraction": [("Add 2 1/2 cups.", "Add two and a half cups.")],
    "_simple_fraction": [("Add 3/4 cup.", "Add three quarters cup.")],
    "_plus": [("2 + 2 = 4.", "two plus two equals four."), ("5 * 3 is 15.", "five times three is fifteen.")],
    "_integer": [("There are 12 eggs.", "There are twelve eggs.")],
    "_letters_and_letters": [("The AT&T store.", "The A-T and T store.")],
    "_symbol": [("Salt & pepper.", "Salt and pepper.")],
    "_asterisk": [("Terms apply*", "Terms apply"), ("Use the * key.", "Use the key.")],
    "_abbreviation": [("Mr. and Mrs. Jones met Ms. Lee.", "Mister and Missus Jones met Miz Lee.")],
    "_saint_or_street": [("Dr. Smith is here.", "Doctor Smith is here.")],
    "_lone_meridiem": [("Late in the p.m. hours.", "Late in the p m hours.")],
    "_dotted_acronym": [("The U.S. team won.", "The U S team won.")],
    "_roman_numeral": [
        ("Read Chapter XIV.", "Read Chapter fourteen."),
        ("Louis XIV ruled.", "Louis the fourteenth ruled."),
        ("Henry VIII ruled.", "Henry the eighth ruled."),
        ("World War II ended.", "World War two ended."),
        ("World War I ended.", "World War one ended."),
        ("Super Bowl LVII was close.", "Super Bowl fifty-seven was close."),
        ("Act III, Scene II.", "Act three, Scene two."),
        ("Part IV is short.", "Part four is short."),
        ("Elizabeth I of England.", "Elizabeth the first of England."),
        ("He met Washington DC staff.", "He met Washington D C staff."),
        ("Size XL only.", "Size X L only."),
        ("See Appendix C.", "See Appendix C."),
    ],
    "_acronym": [
        ("The FBI called.", "The F B I called."),
        ("NASA writes HTML.", "NASA writes H T M L."),
        ("DEBUG: cache miss.", "DEBUG: cache miss."),
        ("WARNING: read the README.", "WARNING: read the README."),
        ("OK, INFO then ERROR.", "OK, INFO then ERROR."),
    ],
}


_PASS_CASES = [(name, written, spoken) for name, cases in PASS_CASES.items() for written, spoken in cases]


@pytest.mark.parametrize(
    ("name", "written", "spoken"), _PASS_CASES, ids=[f"{name}:{written[:40]}" for name, written, _ in _PASS_CASES]
)
def test_each_pass_reads_its_tokens(name, written, spoken):
    assert normalize(written) == spoken


def test_every_pass_has_a_case():
    names = {function.__name__ for _, function in _PASSES}
    assert names - set(PASS_CASES) == set(), "a pass without a case in PASS_CASES"
    assert set(PASS_CASES) - names == set(), "a case for a pass that does not exist"


def test_a_markdown_document_is_read_as_sentences():
    document = (
        "# Release notes\n\n"
        "Version **2.0** is out. See [the changelog](https://example.com/changelog).\n\n"
        "## What's new\n"
        "- Faster *startup*\n"
        "- A new `--quiet` flag\n\n"
        "> Upgrade soon.\n\n"
        "---\n\n"
        "![](banner.png)\n"
        "Thanks!"
    )
    assert normalize(document) == (
        "Release notes.\n\n"
        "Version two point zero is out. See the changelog.\n\n"
        "What's new.\n"
        "Faster startup.\n"
        "A new --quiet flag.\n\n"
        "Upgrade soon.\n\n"
        "Thanks!"
    )


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("C# is #1.", "C sharp is number one."),
        ("Rename snake_case_name now.", "Rename snake_case_name now."),
        ("Compute 2*3*4.", "Compute two times three times four."),
        ("Read pages 10-20.", "Read pages ten to twenty."),
        ("Between 100-1000 people came.", "Between one hundred to one thousand people came."),
        ("It is a *.", "It is a ."),
        ("A - B is a line.", "A - B is a line."),
    ],
)
def test_prose_that_only_looks_like_markup_stays_prose(written, spoken):
    assert normalize(written) == spoken


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
    "```" + "\n" * 10,
    "**" * 3000,
    "[](" * 2000,
    "# " * 3000,
    "|" * 5000,
    "#" * 5000,
    "Mon-" * 2000,
    "555 " * 2000,
    "Chapter " + "M" * 5000,
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
        "**a" * 6_667,
        "[a](" * 5_000,
        "```\n" + "a " * 10_000,
        "- -\n" * 5_000,
        "5555-" * 4_000,
        "a." * 10_000 + "pdf",
        "# " + "a #" * 6_666,
    ],
    ids=[
        "mixed", "digits", "letters", "blank-lines", "commas", "capitals", "dots", "hyphens",
        "emphasis", "links", "open-fence", "rules", "phones", "file-name", "heading-hashes",
    ],
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
