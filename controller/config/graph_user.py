"""Microsoft Graph's user properties, as data: what a mapping may read from an Entra ID user.

Source: the Microsoft Graph v1.0 user resource type, "Properties" and "JSON representation"
(https://learn.microsoft.com/graph/api/resources/user?view=graph-rest-1.0; microsoftgraph/
microsoft-graph-docs-contrib, api-reference/v1.0/resources/user.md), and its list of properties that
Graph does not return when listing users ($select on /users answers 501 for them).

Graph matches property names in $select and $filter regardless of case but answers with its own
spelling, so a mapping that reads ``jobtitle`` gets nothing: names are checked exactly, with the
right spelling suggested. Directory extension attributes (``extension_<app id without dashes>_<name>``)
are the tenant's own and pass as written.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["GRAPH_USER_PROPERTIES", "NOT_LISTABLE", "did_you_mean", "graph_user_problem"]

GRAPH_USER_PROPERTIES: frozenset[str] = frozenset({
    "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "authorizationInfo",
    "birthday", "businessPhones", "city", "companyName", "consentProvidedForMinor", "country",
    "createdDateTime", "creationType", "customSecurityAttributes", "deletedDateTime", "department",
    "displayName", "employeeHireDate", "employeeId", "employeeLeaveDateTime", "employeeOrgData",
    "employeeType", "externalUserState", "externalUserStateChangeDateTime", "faxNumber", "givenName",
    "hireDate", "id", "identities", "imAddresses", "interests", "isResourceAccount", "jobTitle",
    "lastPasswordChangeDateTime", "legalAgeGroupClassification", "licenseAssignmentStates", "mail",
    "mailboxSettings", "mailNickname", "mobilePhone", "mySite", "officeLocation",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesExtensionAttributes",
    "onPremisesImmutableId", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
    "onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName", "otherMails", "passwordPolicies", "passwordProfile", "pastProjects",
    "postalCode", "preferredDataLocation", "preferredLanguage", "preferredName", "provisionedPlans",
    "proxyAddresses", "responsibilities", "schools", "securityIdentifier", "serviceProvisioningErrors",
    "showInAddressList", "signInActivity", "signInSessionsValidFromDateTime", "skills", "state",
    "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
})

# Returned only when reading one user: selecting them on a list of users answers 501 Not Implemented.
NOT_LISTABLE: frozenset[str] = frozenset({
    "aboutMe", "birthday", "hireDate", "interests", "mailboxSettings", "mySite", "pastProjects",
    "preferredName", "responsibilities", "schools", "skills",
})

_EXTENSION = re.compile(r"^extension_[0-9a-fA-F]{32}_\w+$")


def did_you_mean(name: str, known: frozenset[str] | set[str]) -> str | None:
    """The known name ``name`` most likely means: the same letters in another case, else the closest."""
    lowered = {k.lower(): k for k in known}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name.lower(), sorted(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def graph_user_problem(path: str) -> tuple[str, str] | None:
    """Why a mapping cannot read ``path`` from a Graph user, as (message, hint); None when it can.

    A nested path (``onPremisesExtensionAttributes/extensionAttribute1``) is checked by its first step.
    """
    name = re.split(r"[/.]", path, maxsplit=1)[0]
    if name in GRAPH_USER_PROPERTIES:
        if name in NOT_LISTABLE:
            return (f"Microsoft Graph does not return {name!r} when listing users (501 Not Implemented)",
                    "Map a property that /users returns, or drop this one")
        return None
    if _EXTENSION.match(name):
        return None
    guess = did_you_mean(name, GRAPH_USER_PROPERTIES)
    if guess is not None and guess.lower() == name.lower():
        hint = f"Did you mean {guess!r}? Graph answers with its own spelling, so {name!r} would read nothing"
    elif guess is not None:
        hint = f"Did you mean {guess!r}?"
    else:
        hint = ("Use a Microsoft Graph v1.0 user property (learn.microsoft.com/graph/api/resources/user) or a "
                "directory extension extension_<appId>_<name>")
    return f"{name!r} is not a Microsoft Graph user property", hint
