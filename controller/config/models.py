"""The resource model: one pydantic model per kind, the single source of truth for the schemas.

`schemas/*.schema.json` are generated from these models (`make schemas`), and a test fails when the
two disagree. Field names are the YAML names (camelCase), so code, files and docs say the same thing.
These models describe *configuration*; per-account reconciliation code never builds them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.config._enums import Action, RunMode, RunState, Situation

__all__ = [
    "AIC_APPLICATION_ID_PATTERN",
    "AIC_CONNECTOR_NAME_PATTERN",
    "AIC_MAPPING_NAME_PATTERN",
    "AIC_SCHEDULE_NAME_PATTERN",
    "API_VERSION",
    "KINDS",
    "ESV_ID_PATTERN",
    "Action",
    "AicApplicationNaming",
    "AicConnectorNaming",
    "AicEsvIds",
    "AicNaming",
    "ApplicationResource",
    "ApplicationSpec",
    "ConnectorResource",
    "ConnectorSpec",
    "Correlation",
    "EnvironmentResource",
    "EnvironmentSpec",
    "AicPlatformSpec",
    "EmbeddedPlatformSpec",
    "LegacyTargetSpec",
    "PostgresStateSpec",
    "SqliteStateSpec",
    "MapTransform",
    "MappingResource",
    "MappingSource",
    "MappingSpec",
    "Metadata",
    "PolicySpec",
    "PropertyMapping",
    "Resource",
    "SafetySpec",
    "ScheduleResource",
    "RunMode",
    "RunState",
    "ScheduleSpec",
    "SecretSource",
    "Situation",
    "Transform",
    "window_seconds",
]

API_VERSION = "idmctl/v1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
SECRET_REF_PATTERN = r"^\$\{secret\.[A-Za-z_][A-Za-z0-9_]*\}$"
IDENT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
WINDOW_PATTERN = r"^[1-9][0-9]{0,5}[mhd]$"  # minutes, hours or days


def window_seconds(window: str | None) -> float | None:
    """``24h`` -> 86400.0; None stays None (the pattern above is the one syntax)."""
    if window is None:
        return None
    return float(window[:-1]) * {"m": 60, "h": 3600, "d": 86400}[window[-1]]


# An https:// URL without credentials: nothing before an "@" in its authority (https://user:pass@host
# would print the password in every plan and log that shows the URL).
HTTPS_URL_PATTERN = r"^https://[^/?#@]*([/?#].*)?$"
# An OAuth scope ("https://graph.microsoft.com/.default", "api://<app id>/.default") has no "@": one is
# credentials in a URL. (No look-ahead: pydantic's regex engine has none.)
SCOPE_PATTERN = r"^[^@]*$"
# The most deletes and unlinks a run may be allowed: more accounts than any directory holds.
MAX_DELETES = 1_000_000_000


# --- Native names on PingOne Advanced Identity Cloud (the aic platform; `idmctl render`) -------------
# A resource may pin the name of its native AIC object (spec.aic.name); otherwise the renderer derives
# it the way the console does (controller/platforms/aic/_render.py). `validate` checks a pinned name
# against these patterns (controller/config/_checks.py): the characters real AIC exports use, so the
# name is safe in every place AIC puts it -- a config id (config/provisioner.openicf/<name>,
# config/mapping/<name>), a system path (system/<connector>/User), a liveSync stage id
# (SYSTEM<CONNECTOR>USER), a JSON pointer (lastSync/<mapping>) and a recon query parameter.
AIC_CONNECTOR_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
AIC_MAPPING_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,127}$"
# Schedule ids may contain spaces (a real customer's `schedule/EWF Users to alpha_user`), never "/".
AIC_SCHEDULE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,126}[A-Za-z0-9]$|^[A-Za-z0-9]$"
# managed/<realm>_application/<id>: the console creates a lower-case UUID.
AIC_APPLICATION_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# An ESV's id (/environment/variables/<id>, /environment/secrets/<id>), as AIC's API checks it.
ESV_ID_PATTERN = r"^esv-[a-z0-9_-]{1,124}$"


def _unset(value: Any) -> bool:
    """Optional fields dropped from dumps while unset, so that adding them changes no applied state."""
    return value is None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class AicNaming(_Model):
    """How the resource is named on an AIC tenant (the aic platform and `idmctl render`)."""

    name: str | None = Field(
        None, min_length=1,
        description="Native name on AIC, instead of the one derived as the console derives it "
        "(connector: Entra; mapping: systemEntraUser_managedAlpha_user; schedule: the metadata.name). "
        "Letters, digits and '_' (schedules also ' ', '.', '-'); `validate` checks it.",
        examples=["systemAzureUser_managedAlpha_user"])


class AicEsvIds(_Model):
    """The ESVs a connector's credentials are read from, instead of idmctl's own
    ``esv-idmctl-<connector>-{tenant-id,client-id,client-secret}`` (e.g. a tenant set up by frodo or
    fr-config-manager, whose connector says ``&{esv.azure.client.id}``)."""

    tenantId: str | None = Field(None, pattern=ESV_ID_PATTERN, description="ESV variable holding the tenant id.",
                                 examples=["esv-azure-tenant-id"])
    clientId: str | None = Field(None, pattern=ESV_ID_PATTERN, description="ESV variable holding the client id.",
                                 examples=["esv-azure-client-id"])
    clientSecret: str | None = Field(None, pattern=ESV_ID_PATTERN,
                                     description="ESV secret holding the client secret's Value.",
                                     examples=["esv-azure-client-secret"])

    @model_validator(mode="after")
    def _distinct(self) -> AicEsvIds:
        ids = [i for i in (self.tenantId, self.clientId, self.clientSecret) if i is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("tenantId, clientId and clientSecret need an ESV each: the same id is given twice")
        return self


class AicConnectorNaming(AicNaming):
    """How the connector and the ESVs of its credentials are named on an AIC tenant."""

    esv: AicEsvIds | None = Field(
        None, exclude_if=_unset,
        description="ESV ids of the credentials, to adopt a tenant's existing ESVs; each unset one is "
        "idmctl's own esv-idmctl-<connector>-tenant-id / -client-id / -client-secret.",
        examples=[{"tenantId": "esv-azure-tenant-id", "clientId": "esv-azure-client-id",
                   "clientSecret": "esv-azure-client-secret"}])


class AicApplicationNaming(_Model):
    """How the application is named on an AIC tenant (the aic platform and `idmctl render`)."""

    name: str | None = Field(None, min_length=1, max_length=255,
                             description="The application's name in the console; default spec.displayName.",
                             examples=["Microsoft Entra ID"])
    id: str | None = Field(
        None, description="The _id of managed/<realm>_application/<id> (a lower-case UUID), e.g. to adopt an "
        "existing application; default a UUID derived from the environment and metadata.name.",
        examples=["0f357b7e-6c54-4351-a094-43916877d7e5"])


_AIC_NAMING = "Native name on PingOne Advanced Identity Cloud (aic platform, `idmctl render`)."


class Metadata(_Model):
    name: Annotated[str, Field(
        pattern=NAME_PATTERN,
        description="The resource's name: lower-case letters, digits and '-', unique per kind.",
        examples=["entra-users"],
    )]
    description: str | None = Field(None, description="Free text for people.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels for people and tooling.")


# --- Environment -----------------------------------------------------------------------------------


class SqliteStateSpec(_Model):
    """The default state backend: one SQLite file on the controller host's disk."""

    backend: Literal["sqlite"] = Field(description="idmctl's state in an SQLite file on this host.")
    path: str | None = Field(
        None,
        description="SQLite file, relative to the repository root; default .idmctl/<env>.db "
        "(.idmctl/ is gitignored: it holds personal data).",
        examples=[".idmctl/dev.db"],
    )


class PostgresStateSpec(_Model):
    """Shared state in PostgreSQL, for CI runners and several controller replicas."""

    backend: Literal["postgres"]
    dsn: str = Field(min_length=1, description="libpq connection string without the password.",
                     examples=["host=db.internal dbname=idmctl user=idmctl"])
    password: str | None = Field(None, pattern=SECRET_REF_PATTERN,
                                 description="${secret.x} holding the database password (only from a secret).")
    schema_: str = Field("idmctl", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$",
                         description="Database schema holding this environment's state; one per environment.",
                         examples=["idmctl_prod"])
    poolSize: int = Field(4, ge=1, le=64, description="Most connections this process opens.")
    connectTimeoutSeconds: float = Field(10, gt=0, le=300, description="Timeout of one connection attempt.")


StateSpec = Annotated[SqliteStateSpec | PostgresStateSpec, Field(discriminator="backend")]


class EmbeddedPlatformSpec(_Model):
    """The default platform: idmctl's own reconciliation engine and managed store (in the state backend)."""

    type: Literal["embedded"] = Field(description="idmctl's embedded engine and managed store.")


class AicPlatformSpec(_Model):
    """A PingOne Advanced Identity Cloud tenant over its REST API: it runs the reconciliations."""

    type: Literal["aic"]
    tenantUrl: str = Field(pattern=HTTPS_URL_PATTERN, description="https://<tenant-env-fqdn>",
                           examples=["https://openam-acme.forgeblocks.com"])
    realm: str = Field("alpha", pattern=r"^[a-z][a-z0-9_]{0,31}$",
                       description="The realm whose managed objects are written.")
    serviceAccountId: str = Field(min_length=1, description="The service account's id.",
                                  examples=["6d8e4b6b-8182-4bd3-a828-a4a4f92daecb"])
    serviceAccountKey: str = Field(pattern=SECRET_REF_PATTERN,
                                   description="${secret.x} holding the service account's private key (JWK or PEM).")
    scopes: list[str] = Field(default_factory=lambda: ["fr:idm:*", "fr:idc:esv:*"], min_length=1,
                              description="Scopes asked for: fr:idm:* (config, recon), fr:idc:esv:* (ESVs, restart).")
    caBundle: str | None = Field(None, description="PEM file of CAs to trust (private PKI, the emulator); "
                                 "relative to the repository root.")
    timeoutSeconds: float = Field(60, gt=0, le=600, description="Timeout of one HTTP request.")
    maxRetryWaitSeconds: float = Field(300, ge=0, le=3600,
                                       description="Total time to wait on 429/503 before failing.")
    restartTimeoutSeconds: float = Field(900, gt=0, le=3600,
                                         description="Most time to wait for an ESV restart to reach ready.")


PlatformSpec = Annotated[EmbeddedPlatformSpec | AicPlatformSpec, Field(discriminator="type")]


class LegacyTargetSpec(_Model):
    """The form before ``state`` and ``platform``: read as ``state: {backend: sqlite, path}`` + embedded."""

    type: Literal["local"] = Field(description="Embedded SQLite state on this host (deprecated form).")
    path: str | None = Field(None, description="SQLite file, relative to the repository root.")


class SecretSource(_Model):
    """Where a secret's value comes from at run time; the value itself never enters git or state."""

    fromEnv: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                description="Name of an environment variable.",
                                examples=["ENTRA_CLIENT_SECRET"])
    fromFile: str | None = Field(None, description="Path of a file (relative to the repository root); "
                                 "trailing newlines are stripped.")


class EnvironmentSpec(_Model):
    state: StateSpec = Field(
        default_factory=lambda: SqliteStateSpec(backend="sqlite"),
        description="Where idmctl keeps this environment's own bookkeeping: applied snapshot, serial and "
        "lineage, lock, audit log, fingerprint key (and the embedded platform's managed store).",
    )
    platform: PlatformSpec = Field(
        default_factory=lambda: EmbeddedPlatformSpec(type="embedded"),
        description="The identity platform the configuration is applied to and that runs the reconciliations.",
    )
    target: LegacyTargetSpec | None = Field(
        None, exclude=True,
        description="Deprecated: write state: {backend: sqlite, path: ...} and platform: {type: embedded}.",
        json_schema_extra={"deprecated": True},
    )

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_target(cls, data: Any) -> Any:
        """``target: {type: local, path: P}`` reads as ``state: {backend: sqlite, path: P}`` + embedded."""
        if not isinstance(data, dict) or data.get("target") is None:
            return data
        if "state" in data or "platform" in data:
            raise ValueError("spec.target is the old form of spec.state and spec.platform; write only the new form")
        legacy = data["target"]
        path = legacy.get("path") if isinstance(legacy, dict) else getattr(legacy, "path", None)
        state = {"backend": "sqlite"} if path is None else {"backend": "sqlite", "path": path}
        return {**data, "state": state, "platform": {"type": "embedded"}}
    variables: dict[Annotated[str, Field(pattern=IDENT_PATTERN)], Any] = Field(
        default_factory=dict,
        description="Values referenced as ${var.NAME}. A value that is exactly one ${var.NAME} takes "
        "the variable's YAML type; null removes an optional field.",
        json_schema_extra={"propertyNames": {"pattern": IDENT_PATTERN}},  # patternProperties alone admits any key
    )
    secrets: dict[Annotated[str, Field(pattern=IDENT_PATTERN)], SecretSource] = Field(
        default_factory=dict,
        description="Secrets referenced as ${secret.NAME}: each names its source, never its value.",
        json_schema_extra={"propertyNames": {"pattern": IDENT_PATTERN}},
    )


class EnvironmentResource(_Model):
    """environments/<env>/environment.yaml: the only file that differs between environments."""

    apiVersion: Literal["idmctl/v1"]
    kind: Literal["Environment"]
    metadata: Metadata
    spec: EnvironmentSpec = Field(default_factory=EnvironmentSpec)


# --- Connector -------------------------------------------------------------------------------------


class ConnectorSpec(_Model):
    type: Literal["microsoft-graph"] = Field(description="The connector implementation.")
    tenantId: str = Field(min_length=1, description="Directory (tenant) ID of the Entra tenant.",
                          examples=["f7ff6108-c26f-48dd-ae9e-9743eefbd11f"])
    clientId: str = Field(min_length=1, description="Application (client) ID of the app registration.")
    clientSecret: str = Field(
        pattern=SECRET_REF_PATTERN,
        description="A ${secret.NAME} reference to the client secret's Value (not its Secret ID).",
        examples=["${secret.entra_client_secret}"],
    )
    authorityHost: str = Field("https://login.microsoftonline.com", pattern=HTTPS_URL_PATTERN,
                               description="Login host: sovereign clouds, the local emulator.")
    graphUrl: str = Field("https://graph.microsoft.com", pattern=HTTPS_URL_PATTERN,
                          description="Microsoft Graph base URL (without /v1.0).")
    tokenScope: str | None = Field(None, pattern=SCOPE_PATTERN,
                                   description="OAuth scope; default '{graphUrl}/.default'.")
    caBundle: str | None = Field(None, description="PEM file of CAs to trust (private PKI, the emulator); "
                                 "relative to the repository root. Overrides REQUESTS_CA_BUNDLE.")
    pageSize: int = Field(999, ge=1, le=999, description="Graph $top: users per page (1-999).")
    timeoutSeconds: float = Field(60, gt=0, le=600, allow_inf_nan=False, description="Timeout of one HTTP request.")
    maxRetryWaitSeconds: float = Field(300, ge=0, le=3600, allow_inf_nan=False,
                                       description="Total time to wait on 429/503/504 before failing.")
    readConcurrency: int = Field(1, ge=1, le=16, description=(
        "Full reads: how many partitions of /users (startsWith(userPrincipalName, c) over the characters a "
        "UPN may begin with, plus a catch-all) are read at once; 1 reads the tenant as one sequential "
        "listing. More hides Graph's page latency; all partitions share one throttling back-off. Also how many "
        "JSON batches of reads by id (20 users each) are sent at once."))
    aic: AicConnectorNaming | None = Field(None, exclude_if=_unset, description=_AIC_NAMING)


class ConnectorResource(_Model):
    """A source system and how to reach it."""

    apiVersion: Literal["idmctl/v1"]
    kind: Literal["Connector"]
    metadata: Metadata
    spec: ConnectorSpec


# --- Application -----------------------------------------------------------------------------------


class ApplicationSpec(_Model):
    displayName: str = Field(min_length=1, description="Name shown to people.",
                             examples=["Microsoft Entra ID"])
    connector: str = Field(pattern=NAME_PATTERN, description="Name of the Connector it uses.")
    authoritative: bool = Field(False, description="A source of truth: its mappings write identities.")
    owners: list[str] = Field(default_factory=list,
                              description="userNames of managed identities that own the application.")
    aic: AicApplicationNaming | None = Field(None, exclude_if=_unset, description=_AIC_NAMING)


class ApplicationResource(_Model):
    """An application as the console lists it: a name, a connector, owners."""

    apiVersion: Literal["idmctl/v1"]
    kind: Literal["Application"]
    metadata: Metadata
    spec: ApplicationSpec


# --- Mapping ---------------------------------------------------------------------------------------


class MapTransform(_Model):
    """Look the value up in a table (booleans as "true"/"false"); ``default`` when not found."""

    map: dict[str, Any] = Field(description="Source value (as text) -> target value.",
                                examples=[{"true": "active", "false": "inactive"}])
    default: Any = Field(None, description="Value when the source value is not in the table.")


SimpleTransform = Literal["lower", "upper", "trim"]
Transform = SimpleTransform | MapTransform | list[SimpleTransform | MapTransform]


class PropertyMapping(_Model):
    source: str | None = Field(None, description="Source attribute (Graph property name); "
                               "null for a constant default.", examples=["givenName"])
    target: str = Field(min_length=1, description="Managed object property.", examples=["givenName"])
    default: Any = Field(None, description="Value written when the source value is null.")
    transform: Transform | None = Field(None, description="lower, upper, trim, {map: {...}}, or a list.")


class MappingSource(_Model):
    connector: str = Field(pattern=NAME_PATTERN, description="Name of the Connector to read.")
    objectType: Literal["User"] = Field("User", description="The source object type.")


class Correlation(_Model):
    """Target properties compared (case-insensitively) with their mapped source values."""

    any: list[str] | None = Field(None, min_length=1, description="Match when any property matches.")
    all: list[str] | None = Field(None, min_length=1, description="Match when every property matches.")


class PolicySpec(_Model):
    base: Literal["default", "read-only"] = Field(
        "default", description="default: IDM's engine defaults; read-only: every situation ASYNC.")
    rules: dict[Situation, Action] = Field(default_factory=dict,
                                           description="Per-situation overrides, e.g. LINK_ONLY: UNLINK.")


class SafetySpec(_Model):
    maxDeletes: int = Field(500, ge=0, le=MAX_DELETES, description="Most DELETE+UNLINK actions a run may take "
                            "(and, with window, all runs of the mapping in the window together).")
    maxDeletePercent: float = Field(5, ge=0, le=100, allow_inf_nan=False,
                                    description="Most deletes as a percentage of linked objects "
                                    "(checked from 10 affected objects).")
    allowEmptySource: bool = Field(False, description="Allow a run whose in-scope source is empty, or that "
                                   "would delete or unlink every linked object.")
    window: str | None = Field(
        "24h", pattern=WINDOW_PATTERN,
        description="maxDeletes and maxDeletePercent also hold for the deletes of all runs of the mapping "
        "in this window, so a mass delete cannot be spread over many runs; e.g. 24h, 7d, 90m; null checks "
        "each run alone.", examples=["24h"])


class MappingSpec(_Model):
    source: MappingSource = Field(description="Where source objects come from: a Connector and an object type.",
                                  examples=[{"connector": "entra", "objectType": "User"}])
    target: str = Field(pattern=r"^managed/[A-Za-z0-9_]+$", description="Managed object type.",
                        examples=["managed/alpha_user"])
    properties: list[PropertyMapping] = Field(min_length=1, description="Attribute mapping.")
    correlation: Correlation | None = Field(None, description="How unlinked sources find targets.")
    sourceFilter: str | None = Field(None, description="Scope (IDM sourceQuery): a filter on source "
                                     "attributes; objects outside it are never touched.",
                                     examples=['mail eq "scarter@example.com"'])
    validSource: str | None = Field(None, description="Validity: in scope but not matching gives "
                                    "SOURCE_IGNORED / UNQUALIFIED.")
    targetScope: Literal["linked", "all"] = Field(
        "linked", description="Target phase visits objects linked by this mapping, or all of them.")
    policies: PolicySpec = Field(default_factory=PolicySpec,
                                 description="What each situation does: a base policy and per-situation rules.",
                                 examples=[{"base": "default", "rules": {"LINK_ONLY": "UNLINK"}}])
    safety: SafetySpec = Field(default_factory=SafetySpec,
                               description="Limits that block a run before it deletes or unlinks too much.")
    renamedFrom: str | None = Field(None, pattern=NAME_PATTERN,
                                    description="Old name: carry links and delta state over.")
    aic: AicNaming | None = Field(None, exclude_if=_unset, description=_AIC_NAMING)


class MappingResource(_Model):
    """How source objects become managed objects, and what each situation does."""

    apiVersion: Literal["idmctl/v1"]
    kind: Literal["Mapping"]
    metadata: Metadata
    spec: MappingSpec


# --- Schedule --------------------------------------------------------------------------------------


class ScheduleSpec(_Model):
    mapping: str = Field(pattern=NAME_PATTERN, description="Name of the Mapping to reconcile.")
    mode: Literal["full", "incremental"] = Field("incremental", description="Kind of run.")
    cron: str = Field(description="Quartz cron: seconds first, 6 or 7 fields, one '?'.",
                      examples=["0 0/15 * * * ?"])
    timeZone: str = Field("UTC", description="IANA time zone of the cron.", examples=["Europe/Berlin"])
    enabled: bool = Field(True, description="false keeps the schedule in git but never fires it.")
    misfirePolicy: Literal["fireAndProceed", "doNothing"] = Field(
        "fireAndProceed", description="After downtime: fire once now, or wait for the next time.")
    aic: AicNaming | None = Field(None, exclude_if=_unset, description=_AIC_NAMING)


class ScheduleResource(_Model):
    """When a mapping runs."""

    apiVersion: Literal["idmctl/v1"]
    kind: Literal["Schedule"]
    metadata: Metadata
    spec: ScheduleSpec


Resource = (
    EnvironmentResource | ConnectorResource | ApplicationResource | MappingResource | ScheduleResource
)

KINDS: dict[str, type[_Model]] = {
    "Environment": EnvironmentResource,
    "Connector": ConnectorResource,
    "Application": ApplicationResource,
    "Mapping": MappingResource,
    "Schedule": ScheduleResource,
}
