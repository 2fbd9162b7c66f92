"""The Graph ``user`` resource as the emulator knows it: property names, defaults and projections.

Users are stored as plain dicts holding only the properties that are set; these helpers turn them into
what Graph sends for a ``$select`` (unset -> ``null``, collections -> ``[]``) and check writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "COLLECTION_PROPERTIES",
    "DEFAULT_SELECT",
    "KNOWN",
    "NOT_ON_COLLECTIONS",
    "READ_ONLY",
    "canonical_name",
    "project",
    "project_sparse",
]

# Order matters: Graph returns the default set in this order.
DEFAULT_SELECT: tuple[str, ...] = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)

_OTHER: tuple[str, ...] = (
    "accountEnabled", "ageGroup", "city", "companyName", "country", "createdDateTime", "creationType",
    "deletedDateTime", "department", "employeeHireDate", "employeeId", "employeeType",
    "externalUserState", "faxNumber", "imAddresses", "lastPasswordChangeDateTime", "mailNickname",
    "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesImmutableId",
    "onPremisesLastSyncDateTime", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
    "postalCode", "proxyAddresses", "securityIdentifier", "showInAddressList", "state",
    "streetAddress", "usageLocation", "userType",
)

# Returned only on $select (user resource docs): licenses, plans, provisioning errors, sign-in names and
# other complex values. Unset ones come back as Graph sends them: [] for collections, null or a value
# Graph derives for every user (see _DERIVED) otherwise. passwordProfile is never stored (the
# directory drops it on writes), so it always reads as null, as on Graph: the password is write-only.
_SELECT_ONLY: tuple[str, ...] = (
    "assignedLicenses", "assignedPlans", "authorizationInfo", "employeeOrgData", "identities",
    "licenseAssignmentStates", "onPremisesExtensionAttributes", "onPremisesProvisioningErrors",
    "passwordProfile", "preferredDataLocation", "provisionedPlans", "serviceProvisioningErrors",
    "signInSessionsValidFromDateTime",
)

# Selecting these on a collection is answered 501 by Graph (they live in another store).
NOT_ON_COLLECTIONS: frozenset[str] = frozenset(
    {"aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects", "preferredName",
     "responsibilities", "schools", "skills", "mailboxSettings"}
)

KNOWN: tuple[str, ...] = DEFAULT_SELECT + _OTHER + _SELECT_ONLY + tuple(sorted(NOT_ON_COLLECTIONS))
COLLECTION_PROPERTIES: frozenset[str] = frozenset(
    {"businessPhones", "imAddresses", "otherMails", "proxyAddresses", "interests", "pastProjects",
     "responsibilities", "schools", "skills", "assignedLicenses", "assignedPlans", "provisionedPlans",
     "licenseAssignmentStates", "onPremisesProvisioningErrors", "serviceProvisioningErrors"}
)
READ_ONLY: frozenset[str] = frozenset(
    {"id", "createdDateTime", "deletedDateTime", "creationType", "externalUserState", "imAddresses",
     "proxyAddresses", "securityIdentifier", "onPremisesSyncEnabled", "onPremisesLastSyncDateTime",
     "onPremisesSecurityIdentifier", "onPremisesDistinguishedName", "onPremisesDomainName",
     "lastPasswordChangeDateTime", "assignedLicenses", "assignedPlans", "provisionedPlans",
     "licenseAssignmentStates", "onPremisesProvisioningErrors", "serviceProvisioningErrors",
     "signInSessionsValidFromDateTime"}
)


def _identities(user: Mapping[str, Any]) -> list[dict[str, Any]]:
    # Every member signs in with its userPrincipalName; Graph lists that as the one identity.
    upn = str(user.get("userPrincipalName") or "")
    return [{"signInType": "userPrincipalName", "issuer": upn.rpartition("@")[2],
             "issuerAssignedId": upn}]


# Values Graph has for every user even when nothing set them.
_DERIVED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "identities": _identities,
    "onPremisesExtensionAttributes": lambda user: {f"extensionAttribute{i}": None for i in range(1, 16)},
    "authorizationInfo": lambda user: {"certificateUserIds": []},
    # Sessions are valid from the moment the account exists until someone revokes them.
    "signInSessionsValidFromDateTime": lambda user: user.get("createdDateTime"),
    "passwordProfile": lambda user: None,
}
# Of those, the ones every user has (a delta page shows them as set).
_ALWAYS_SET: frozenset[str] = frozenset(
    {"identities", "onPremisesExtensionAttributes", "authorizationInfo", "signInSessionsValidFromDateTime"}
)

_BY_LOWER: dict[str, str] = {name.lower(): name for name in KNOWN}


def canonical_name(name: str) -> str | None:
    """The property's Graph spelling (``$select`` and ``$filter`` names are case-insensitive)."""
    return _BY_LOWER.get(name.strip().lower())


def _value(user: Mapping[str, Any], name: str) -> Any:
    value = user.get(name)
    if value is None:
        if name in COLLECTION_PROPERTIES:
            return []
        derive = _DERIVED.get(name)
        if derive is not None:
            return derive(user)
    return value


def project(user: Mapping[str, Any], select: Iterable[str] | None) -> dict[str, Any]:
    """The user as ``GET /users`` returns it: every selected property, unset ones as ``null``."""
    names = DEFAULT_SELECT if select is None else select
    # Graph sends only what was selected: a $select without id gets no id.
    return {name: _value(user, name) for name in names}


def project_sparse(
    user: Mapping[str, Any], select: Iterable[str] | None, changed: Iterable[str] | None = None
) -> dict[str, Any]:
    """The user as a delta page shows it: set properties only, plus ``changed`` ones even when null."""
    names = DEFAULT_SELECT if select is None else select
    changed_set = frozenset(changed or ())
    out: dict[str, Any] = {}
    for name in names:
        value = user.get(name)
        if value is not None or name in changed_set or name in _ALWAYS_SET:
            out[name] = _value(user, name)
    out["id"] = user["id"]
    return out
