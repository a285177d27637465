"""Who is on the film? The patient's age from the DICOM header, parsed defensively.

The model was trained and validated on children aged 1 to 5 (Kermany et al. 2018, Guangzhou).
A film of an adult (18 or over) is refused; a child of 6 to 17 (or an infant under 1) is judged,
with a warning; when the file gives no usable age (PNG/JPEG, or a DICOM without a readable age or
dates) the row says that the population could not be checked.

Ages seen in the wild: ``003Y``, ``018M``, ``010W``, ``020D``, ``081`` or ``81`` with no unit
(read as years), lower case, spaces, empty. Birth dates: ``19000101`` or ``00000000`` placeholders,
hashed or garbage strings. Unknown is an answer, never a crash.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

#: The ages (in years) the model was trained and validated on: 1 to 5 (up to the 6th birthday).
TRAINED_MIN_YEARS = 1.0
TRAINED_MAX_YEARS = 6.0
#: From this age on, the film is refused.
ADULT_YEARS = 18.0
#: Oldest plausible age; larger values are garbage.
MAX_YEARS = 130.0

_UNITS = {
    "D": 1 / 365.25,
    "DAY": 1 / 365.25,
    "DAYS": 1 / 365.25,
    "W": 7 / 365.25,
    "WK": 7 / 365.25,
    "WKS": 7 / 365.25,
    "WEEK": 7 / 365.25,
    "WEEKS": 7 / 365.25,
    "M": 1 / 12,
    "MO": 1 / 12,
    "MOS": 1 / 12,
    "MONTH": 1 / 12,
    "MONTHS": 1 / 12,
    "Y": 1.0,
    "YR": 1.0,
    "YRS": 1.0,
    "YEAR": 1.0,
    "YEARS": 1.0,
    "": 1.0,
}
_AGE = re.compile(r"^\s*(\d{1,3})\s*([A-Za-z]*)\s*$")
_DATE = re.compile(r"^\s*(\d{4})[-./]?(\d{2})[-./]?(\d{2})\s*$")
#: Dates that systems write when the real one is unknown.
PLACEHOLDER_YEARS = 1900


def parse_age(value: str | None) -> float | None:
    """DICOM Patient's Age (AS, ``nnnD/W/M/Y``) -> years, or None when absent or unusable.

    A number without a unit (``81``, ``081``) is read as years, as devices that drop the unit mean.
    """
    if value is None:
        return None
    text = str(value).strip().strip("\x00").strip()
    m = _AGE.match(text)
    if not m:
        return None
    unit = m.group(2).upper()
    if unit not in _UNITS:
        return None
    years = int(m.group(1)) * _UNITS[unit]
    return years if years <= MAX_YEARS else None


def parse_date(value: str | None) -> dt.date | None:
    """DICOM DA (``YYYYMMDD``, also ``YYYY-MM-DD`` / ``YYYY.MM.DD``) -> a date; None for placeholders.

    ``19000101``, ``00000000``, any year 1900 or earlier, impossible dates and hashed strings are not dates.
    """
    if value is None:
        return None
    m = _DATE.match(str(value).strip("\x00"))
    if not m:
        return None
    try:
        date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if date.year <= PLACEHOLDER_YEARS:
        return None
    return date


def age_from_dates(birth: str | None, *when: str | None) -> float | None:
    """Age in years at the first usable date of ``when`` (study, acquisition, content date)."""
    born = parse_date(birth)
    if born is None:
        return None
    for value in when:
        on = parse_date(value)
        if on is None:
            continue
        if on < born:
            return None  # a birth date after the study: one of them is wrong
        years = (on - born).days / 365.25
        return years if years <= MAX_YEARS else None
    return None


@dataclass(frozen=True)
class Population:
    """What the header says about the patient's age."""

    age_years: float | None  # None: unknown
    source: str  # "Patient's Age 081" / "birth date and study date" / "" when unknown

    @property
    def known(self) -> bool:
        return self.age_years is not None

    @property
    def adult(self) -> bool:
        return self.age_years is not None and self.age_years >= ADULT_YEARS

    @property
    def outside_trained_range(self) -> bool:
        return self.age_years is not None and not (TRAINED_MIN_YEARS <= self.age_years < TRAINED_MAX_YEARS)


def population_of(
    patient_age: str | None,
    birth_date: str | None = None,
    study_date: str | None = None,
    acquisition_date: str | None = None,
    content_date: str | None = None,
) -> Population:
    """Patient's Age first (what the device recorded); else birth date and the first usable date."""
    years = parse_age(patient_age)
    if years is not None:
        return Population(years, f"Patient's Age {str(patient_age).strip()}")
    years = age_from_dates(birth_date, study_date, acquisition_date, content_date)
    if years is not None:
        return Population(years, "birth date and study date")
    return Population(None, "")


def describe_age(years: float) -> str:
    """Plain words: '3 years', '18 months', '5 weeks', '81 years'."""
    if years >= 2:
        return f"{int(years)} years"
    months = years * 12
    if months >= 1:
        return f"{int(round(months))} months"
    weeks = years * 365.25 / 7
    if weeks >= 1:
        return f"{int(round(weeks))} weeks"
    return f"{int(round(years * 365.25))} days"


TRAINED_ON = "the model was trained and validated on chest X-rays of children aged 1 to 5"
NOT_CHECKED = "Population could not be checked (the file gives no patient age); " + TRAINED_ON + "."


def adult_message(pop: Population) -> str:
    assert pop.age_years is not None
    return (
        f"Adult patient ({describe_age(pop.age_years)}, from {pop.source}): {TRAINED_ON}, "
        "so it cannot judge adults' films."
    )


def warning_message(pop: Population) -> str:
    """The warning for a child outside 1-5 (judged nevertheless), or '' inside the range."""
    if not pop.outside_trained_range or pop.adult:
        return ""
    assert pop.age_years is not None
    return (
        f"Warning: the patient is {describe_age(pop.age_years)} old ({pop.source}); {TRAINED_ON}: "
        "the result is less certain."
    )
