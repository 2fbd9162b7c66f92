"""Deterministic synthetic users: user ``i`` of a generated tenant is computed from ``i`` alone.

Nothing is stored per user, so a million-user directory costs no memory until users change (the
directory keeps overrides). Ids and UPNs encode the index reversibly, so lookups by id, UPN or mail
need no index either.
"""

from __future__ import annotations

import re
import time
from typing import Any

__all__ = ["UserGenerator"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_GIVEN = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty "
    "Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald "
    "Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Amy Jacob Kathleen Gary Angela Nicholas "
    "Shirley Eric Brenda Jonathan Emma Stephen Anna Larry Pamela Justin Nicole Scott Samantha "
    "Brandon Katherine Benjamin Christine Samuel Helen Gregory Debra Alexander Rachel Patrick "
    "Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry Diane Tyler Julie Aaron "
    "Joyce Jose Victoria Adam Ruth Nathan Virginia Henry Lauren Zachary Kelly Douglas Christina "
    "Peter Joan Kyle Evelyn Noah Judith Ethan Andrea Jeremy Hannah Walter Megan Christian Cheryl "
    "Keith Jacqueline Roger Martha Terry Madison Austin Teresa Sean Gloria Gerald Sara Carl Janice "
    "Harold Ann Dylan Kathryn Arthur Abigail Lawrence Sophia Jordan Frances Jesse Jean Bryan Alice "
    "Billy Judy Bruce Isabella Gabriel Julia Joe Grace Logan Amber Alan Denise Juan Danielle Albert "
    "Marilyn Willie Beverly Elijah Charlotte Wayne Natalie Randy Theresa Vincent Diana Mason Brittany "
    "Roy Doris Ralph Kayla Bobby Alexis Russell Lori Bradley Marie Philip Sofia Eugene Aisha Wei "
    "Priya Hiroshi Fatima Mateo Ingrid Lars Amara Chen Yuki Omar Elena Rahul Zanele Tomasz Leilani"
)
_SURNAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips "
    "Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers "
    "Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson "
    "Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders "
    "Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler "
    "Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton "
    "Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina "
    "Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington "
    "Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter "
    "Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black "
    "Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson "
    "Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kowalski Nakamura Okafor Lindqvist "
    "Haddad Novak Rossi Dubois Yamamoto Singh Mbeki Kaur Jensen Moreau Fischer Ivanova Costa Larsen"
)
_DEPARTMENTS = (
    ("Sales", ("Account Executive", "Sales Manager", "Sales Representative", "Regional Sales Director")),
    ("Marketing", ("Marketing Specialist", "Product Marketing Manager", "Content Strategist")),
    ("Engineering", ("Software Engineer", "Senior Software Engineer", "Engineering Manager",
                     "Site Reliability Engineer", "QA Engineer")),
    ("Finance", ("Accountant", "Financial Analyst", "Controller", "Auditor")),
    ("Human Resources", ("HR Generalist", "Recruiter", "HR Business Partner")),
    ("Operations", ("Operations Analyst", "Operations Manager", "Logistics Coordinator")),
    ("Legal", ("Paralegal", "Corporate Counsel", "Compliance Officer")),
    ("IT", ("Systems Administrator", "Help Desk Technician", "IT Manager", "Security Analyst")),
    ("Customer Support", ("Support Engineer", "Customer Success Manager", "Support Team Lead")),
    ("Research", ("Research Scientist", "Data Scientist", "Research Associate")),
)
_OFFICES = ("Redmond", "Seattle", "New York", "London", "Paris", "Berlin", "Tokyo", "Sydney",
            "Toronto", "Dublin", "Singapore", "Bangalore")
_USAGE = ("US", "US", "US", "US", "GB", "FR", "DE", "JP", "AU", "CA", "IE", "SG", "IN")
_LANGS = ("en-US", "en-US", "en-US", "en-US", "en-GB", "fr-FR", "de-DE", "ja-JP", "en-AU", "en-CA",
          "en-IE", "en-SG", "en-IN")
_PARTNERS = ("fabrikam.com", "northwindtraders.com", "adatum.com", "litwareinc.com", "tailspintoys.com")
_EPOCH_S = 1451865600  # 2016-01-04T00:00:00Z
_SPAN_S = 8 * 365 * 86400
_M64 = (1 << 64) - 1
_M48 = (1 << 48) - 1
# An odd multiplier is invertible mod 2**48: the last GUID group scrambles the index reversibly.
_MUL = 0x5DEECE66D
_MUL_INV = pow(_MUL, -1, 1 << 48)
_NAME_INDEX = re.compile(r"\.(\d+)(?:_[^@#]+#EXT#)?@", re.IGNORECASE)


def _mix(x: int) -> int:
    """splitmix64: cheap, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class UserGenerator:
    """``count`` synthetic users for ``domain``; ``user(i)`` is the same for the same seed."""

    def __init__(self, count: int, domain: str, *, seed: int = 0, company: str = "Contoso") -> None:
        self.count = count
        self.domain = domain
        self.company = company
        self._salt = _mix(seed ^ 0xC0FFEE)
        self._offset = self._salt & _M48

    def _id(self, i: int, h1: int) -> str:
        tail = (i * _MUL + self._offset) & _M48
        return (
            f"{h1 >> 32:08x}-{(h1 >> 16) & 0xFFFF:04x}-4{(h1 >> 4) & 0xFFF:03x}-"
            f"{8 | (h1 & 3):x}{(h1 >> 52) & 0xFFF:03x}-{tail:012x}"
        )

    def user(self, i: int) -> dict[str, Any]:
        """The stored form of user ``i`` (only set properties)."""
        h1 = _mix(i ^ self._salt)
        h2 = _mix(h1)
        given = _GIVEN[h1 % len(_GIVEN)]
        surname = _SURNAMES[(h1 >> 12) % len(_SURNAMES)]
        department, titles = _DEPARTMENTS[(h2 >> 3) % len(_DEPARTMENTS)]
        site = (h2 >> 9) % len(_OFFICES)
        local = f"{given}.{surname}.{i}".lower()
        guest = h2 % 50 == 0
        user: dict[str, Any] = {
            "id": self._id(i, h1),
            "displayName": f"{given} {surname}",
            "givenName": given,
            "surname": surname,
            "accountEnabled": (h2 >> 14) % 25 != 0,
            "createdDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_EPOCH_S + (h2 >> 20) % _SPAN_S)),
            "usageLocation": _USAGE[site % len(_USAGE)],
            "preferredLanguage": _LANGS[site % len(_LANGS)],
            "businessPhones": [],
        }
        if guest:
            partner = _PARTNERS[(h2 >> 24) % len(_PARTNERS)]
            upn = f"{local}_{partner}#EXT#@{self.domain}"
            user.update(
                userPrincipalName=upn, mail=f"{local}@{partner}", mailNickname=f"{local}_{partner}#EXT#",
                userType="Guest", externalUserState="Accepted", creationType="Invitation",
                otherMails=[f"{local}@{partner}"],
            )
        else:
            user.update(
                userPrincipalName=f"{local}@{self.domain}", mail=f"{local}@{self.domain}",
                mailNickname=local, userType="Member", companyName=self.company,
                department=department, jobTitle=titles[(h2 >> 28) % len(titles)],
                employeeId=f"{100000 + i}", employeeType="Employee",
                officeLocation=f"{_OFFICES[site]} {(h2 >> 33) % 40 + 1}/{(h2 >> 40) % 3000 + 1000}",
                proxyAddresses=[f"SMTP:{local}@{self.domain}"],
            )
            if (h2 >> 48) % 5:
                user["businessPhones"] = [f"+1 425 555 {(h2 >> 50) % 10000:04d}"]
            if (h2 >> 56) % 3:
                user["mobilePhone"] = f"+1 206 555 {(h1 >> 40) % 10000:04d}"
        return user

    def index_of_id(self, user_id: str) -> int | None:
        """The index whose user has ``user_id``, or None (cheap: decoded, then verified)."""
        if len(user_id) != 36:
            return None
        try:
            tail = int(user_id[24:], 16)
        except ValueError:
            return None
        i = ((tail - self._offset) * _MUL_INV) & _M48
        if i < self.count and self._id(i, _mix(i ^ self._salt)) == user_id.lower():
            return i
        return None

    def index_of_name(self, name: str) -> int | None:
        """The index a generated UPN or mail encodes (``given.surname.<i>@``), unverified."""
        m = _NAME_INDEX.search(name)
        if not m:
            return None
        i = int(m.group(1))
        return i if i < self.count else None
