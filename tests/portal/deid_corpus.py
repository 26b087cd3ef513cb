"""Invented case-study texts with planted identifiers, for measuring the de-identification check.

Every person, place, school, number and handle here is made up by Faker (seeded) or by this file; none is
a real case. Each text mixes ordinary professional prose (which must stay unflagged) with sentences that
carry identifiers; ``Planted`` records where each identifier is, so recall and false positives can be
counted. Names come from two pools: locales whose names the checker's gazetteer holds, and locales it
does not (``HELD_OUT_LOCALES``), so that name recall is not the gazetteer finding itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from faker import Faker

HELD_OUT_LOCALES = (
    "fi_FI",
    "sv_SE",
    "no_NO",
    "da_DK",
    "cs_CZ",
    "hu_HU",
    "hr_HR",
    "sk_SK",
    "sl_SI",
    "lt_LT",
    "yo_NG",
    "zu_ZA",
    "tw_GH",
    "ig_NG",
    "is_IS",
    "et_EE",
)
GAZETTEER_SAMPLE_LOCALES = (
    "en_GB",
    "en_US",
    "en_NG",
    "en_IN",
    "de_DE",
    "fr_FR",
    "es_ES",
    "pl_PL",
    "tr_TR",
    "pt_BR",
)
PHONE_LOCALES = ("en_GB", "en_US", "en_IN", "en_AU", "en_CA", "de_DE", "fr_FR", "es_ES", "pt_BR", "en_NZ")

PROSE = [
    "The referral came through the school's safeguarding lead after a disclosure to a teaching assistant.",
    "A strategy discussion was held within two working days and a joint investigation agreed.",
    "The child was interviewed once, by a trained officer, in a child-friendly room.",
    "Therapeutic work focused on shame, self-blame and the fear that the images would resurface.",
    "The family needed practical help as much as therapy: transport, a quiet room, predictable appointments.",
    "Multi-agency roles were clarified at the first meeting, which avoided repeated questioning.",
    "The social worker kept contact weekly and explained each step before it happened.",
    "Removal requests were made to the platforms and the hash lists were updated.",
    "Parents were offered their own sessions, separate from the child's, to manage their distress.",
    "Outcomes were reviewed at three and six months using the recovery-needs instrument.",
    "Lessons learned: agree one lead professional, and tell the child what will happen to the images.",
    "Peer support helped the young person feel less alone with the experience.",
    "The school adjusted the timetable so the young person could leave lessons when overwhelmed.",
    "Police liaison kept the family informed about the progress of the investigation.",
    "Sleep problems and panic attacks eased once the child felt believed.",
    "Online safety planning was done with the child rather than for the child.",
    "The case showed how victim-blaming language in early contacts delayed engagement.",
    "A trauma-informed approach meant offering choices about where and when sessions took place.",
    "Support continued after the criminal case closed, which professionals felt was essential.",
    "The child's own words about what helped were recorded with consent and used in training.",
    "Siblings were affected too and were offered age-appropriate explanations.",
    "Health staff screened for self-harm at every appointment during the first month.",
    "The young person chose a pseudonym for the case study and reviewed the final text.",
    "Coordination between the health visitor and the school nurse closed a gap in support.",
]


@dataclass
class Planted:
    kind: str
    start: int
    end: int
    text: str
    pool: str = ""  # for names: "gazetteer" or "held_out"


@dataclass
class Doc:
    text: str = ""
    planted: list[Planted] = field(default_factory=list)

    def add(self, *parts: str | tuple[str, str] | tuple[str, str, str]) -> None:
        """Append text; a tuple (kind, value[, pool]) is a planted identifier."""
        for part in parts:
            if isinstance(part, tuple):
                kind, value, *pool = part
                self.planted.append(
                    Planted(kind, len(self.text), len(self.text) + len(value), value, pool[0] if pool else "")
                )
                self.text += value
            else:
                self.text += part


class Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers = {
            loc: Faker(loc) for loc in (*HELD_OUT_LOCALES, *GAZETTEER_SAMPLE_LOCALES, *PHONE_LOCALES)
        }
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed * 100 + i)
        self.en = Faker("en_GB")
        self.en.seed_instance(seed)

    def person(self) -> tuple[str, str, str]:
        pool = "held_out" if self.rng.random() < 0.5 else "gazetteer"
        locale = self.rng.choice(HELD_OUT_LOCALES if pool == "held_out" else GAZETTEER_SAMPLE_LOCALES)
        f = self.fakers[locale]
        return f.first_name(), f.last_name(), pool

    def date_text(self) -> str:
        d = self.en.date_between(start_date="-12y", end_date="today")
        return self.rng.choice(
            [
                f"{d.day} {d:%B} {d.year}",
                f"{d:%B} {d.day}, {d.year}",
                f"{d:%d/%m/%Y}",
                f"{d.day}{_th(d.day)} {d:%B}",
                f"{d:%A} {d.day} {d:%B}",
                f"{d:%Y-%m-%d}",
                f"{d:%B} {d.year}",
                f"{d.day} {d:%b} {d.year}",
            ]
        )

    def dob(self) -> tuple[str, str]:
        d = self.en.date_between(start_date="-17y", end_date="-3y")
        cue, value = self.rng.choice(
            [
                ("born on ", f"{d.day} {d:%B} {d.year}"),
                ("DOB: ", f"{d:%d/%m/%Y}"),
                ("date of birth ", f"{d:%B} {d.day}, {d.year}"),
                ("born ", f"{d.day}{_th(d.day)} {d:%B} {d.year}"),
                ("(d.o.b. ", f"{d:%d.%m.%Y}"),
                ("birthday is ", f"{d.day} {d:%B}"),
            ]
        )
        return cue, value

    def address(self) -> str:
        f = self.en
        street = self.rng.choice(
            [
                f.last_name(),
                f.first_name(),
                self.rng.choice(["Oak", "Mill", "Church", "Station", "Victoria", "Meadow", "Kings"]),
            ]
        )
        suffix = self.rng.choice(
            [
                "Road",
                "Street",
                "Close",
                "Avenue",
                "Lane",
                "Drive",
                "Crescent",
                "Way",
                "Gardens",
                "Terrace",
                "Place",
                "Grove",
                "Walk",
                "Mews",
                "Rise",
            ]
        )
        number = self.rng.randint(1, 240)
        town = f.city()
        return self.rng.choice(
            [
                f"{number} {street} {suffix}, {town}",
                f"{number} {street} {suffix}",
                f"Flat {self.rng.randint(1, 30)}, {number} {street} {suffix}",
                f"{number} {street} {suffix}, {town} {f.postcode()}",
                f.postcode(),
            ]
        )

    def school(self) -> str:
        f = self.en
        name = self.rng.choice([f.last_name(), f.city(), f"St {f.first_name()}'s", f"{f.last_name()} Park"])
        kind = self.rng.choice(
            [
                "Primary School",
                "Academy",
                "High School",
                "Secondary School",
                "Junior School",
                "Community School",
                "College",
                "Infant School",
                "Grammar School",
            ]
        )
        return self.rng.choice(
            [f"{name} {kind}", f"{name} {kind}", f"Escuela {self.fakers['es_ES'].last_name()}"]
        )

    def phone(self) -> str:
        return self.fakers[self.rng.choice(PHONE_LOCALES)].phone_number()

    def email(self) -> str:
        return self.rng.choice([self.en.email(), self.en.free_email(), self.en.company_email()])

    def age(self) -> str:
        n = self.rng.randint(4, 17)
        words = [
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
        ]
        return self.rng.choice(
            [
                f"aged {n}",
                f"{n}-year-old",
                f"{n} years old",
                f"{words[n - 4]}-year-old",
                f"age {n}",
                f"{words[n - 4]} years old",
            ]
        )

    def username(self) -> tuple[str, str]:
        u = self.rng.choice(
            [
                self.en.user_name(),
                f"{self.en.first_name().lower()}_{self.rng.randint(1, 2012)}",
                f"{self.en.word()}{self.rng.randint(10, 99)}",
                f"x{self.en.first_name()}x",
            ]
        )
        cue, value = self.rng.choice(
            [
                ("the Instagram account ", u),
                ("", "@" + u),
                ("the username ", u),
                ("Snapchat: ", u),
                ("a Discord user called ", u),
                ("the gamertag ", u),
                ("a Roblox account named ", u),
                ("tiktok.com/@", u),
            ]
        )
        return cue, value

    def case_number(self) -> tuple[str, str]:
        r = self.rng
        value = r.choice(
            [
                f"CR-{r.randint(2015, 2024)}-{r.randint(1, 99999):05d}",
                f"{r.randint(10, 99)}/{r.randint(10000, 99999)}/{r.randint(15, 24)}",
                f"SC{r.randint(100000, 999999)}",
                f"REF-{r.randint(1000, 9999)}-{r.choice('ABCDEF')}",
                f"{r.choice(['MPS', 'WYP', 'GMP'])}/{r.randint(1000, 99999)}/{r.randint(18, 24)}",
                f"{r.randint(1000000, 99999999)}",
            ]
        )
        cue = r.choice(
            [
                "case number ",
                "crime reference ",
                "ref ",
                "referral no. ",
                "the file ",
                "log number ",
                "case ",
                "police reference ",
            ]
        )
        return cue, value


def _th(day: int) -> str:
    return "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def make_doc(m: Maker) -> Doc:
    """One invented case study: prose around sentences that each plant one or more identifiers."""
    doc = Doc()
    rng = m.rng
    first, last, pool = m.person()
    pfirst, plast, ppool = m.person()
    sentences = [
        lambda: doc.add(("name", first, pool), " was referred after images were shared online. "),
        lambda: doc.add("The worker met ", ("name", first, pool), " at home. "),
        lambda: doc.add("Her mother, ", ("name", f"{pfirst} {plast}", ppool), ", attended every session. "),
        lambda: doc.add("The case was discussed with Mrs ", ("name", plast, ppool), " at school. "),
        lambda: doc.add(("name", first, pool), "'s confidence grew over the months. "),
        lambda: doc.add("A child ", *_pair(m.dob(), "dob"), " was the subject of the referral. "),
        lambda: doc.add("The family lived at ", ("address", m.address()), " at the time. "),
        lambda: doc.add("The child attended ", ("school", m.school()), " until the move. "),
        lambda: doc.add("The mother can be reached on ", ("phone", m.phone()), ". "),
        lambda: doc.add("Messages were sent to ", ("email", m.email()), " by the offender. "),
        lambda: doc.add("The girl, ", ("age", m.age()), ", disclosed to a teacher. "),
        lambda: doc.add("A boy ", ("age", m.age()), " was groomed through a game. "),
        lambda: doc.add("The first strategy meeting was on ", ("date", m.date_text()), ". "),
        lambda: doc.add(
            "Contact started through ", *_pair(m.username(), "username"), " and moved to video. "
        ),
        lambda: doc.add("Police opened ", *_pair(m.case_number(), "case_number"), " for the investigation. "),
        lambda: doc.add("On ", ("date", m.date_text()), " the images were reported. "),
    ]
    order = list(range(len(sentences)))
    rng.shuffle(order)
    for i in order[: rng.randint(8, 12)]:
        doc.add(rng.choice(PROSE), " ")
        sentences[i]()
    doc.add(rng.choice(PROSE))
    return doc


def _pair(cue_value: tuple[str, str], kind: str) -> tuple[str, tuple[str, str]]:
    cue, value = cue_value
    return cue, (kind, value)


def corpus(n_docs: int = 40, seed: int = 19) -> list[Doc]:
    m = Maker(seed)
    return [make_doc(m) for _ in range(n_docs)]


# Written after the checker was tuned and never used to tune it: the false-positive rate on these is the
# one docs/portal.md reports as "unseen prose".
UNSEEN_PROSE = """\
At the initial assessment the young person described feeling watched whenever a phone was nearby.
Professionals agreed that the first priority was safety at home, then school attendance, then therapy.
The Designated Safeguarding Lead and the Children's Social Care duty team spoke on the same afternoon.
Because the offender was a peer, the school had to plan how both pupils would be kept apart.
Trauma-focused cognitive behavioural therapy was offered after a period of stabilisation.
The mother blamed herself for buying the tablet, and needed reassurance that this was not her fault.
Removal of the images from the platform took eleven days, which the family found very distressing.
The Independent Sexual Violence Adviser explained the court process and arranged a pre-trial visit.
Some professionals still used the phrase "child pornography", which the young person found degrading.
The case review recommended a single shared chronology held by the lead agency.
CAMHS accepted the referral after the GP documented self-harm and disturbed sleep.
The Barnahus model brought the medical examination, interview and therapy under one roof.
Her grandparents became the main source of stability during the criminal proceedings.
Engagement improved when sessions moved from the clinic to a youth centre the girl already knew.
Practitioners noted that the boy minimised what happened because he believed he had consented.
Training on online harms was requested by nine out of ten staff in the team survey.
The Crown Prosecution Service decided to proceed, and the young person gave evidence by live link.
Later in the year the family moved, and records were transferred with the young person's agreement.
Recovery was not linear: a new message from an unknown account triggered a setback in the spring.
Restorative work with the school community helped stop the rumours that followed the disclosure.
A sibling support group run by the NGO met fortnightly on Saturday mornings.
Interpreters were booked for every meeting, and documents were translated into Polish and Arabic.
Supervision gave the worker space to reflect on the emotional impact of viewing the chat logs.
The evaluation used the Strengths and Difficulties Questionnaire at intake and at discharge.
Online safety sessions were co-designed with young people from the participation group.
The National Referral Mechanism was considered because of the exploitation element.
Police seized devices at the first visit, leaving the child without contact with friends for weeks.
The therapist used creative methods, such as sand trays and drawing, with the younger sibling.
Lessons for practice: ask about online contact routinely, and never ask a child to show the images.
The multi-disciplinary team met monthly until the case was closed in agreement with the family.
"""
