"""Reporting views, declared: one ``View`` per API collection, SQL generated per dialect.

Each view lists the typed columns people report on: a name, where the value comes from (a path into the
spec of the listed kind or of a kind joined by the same id, or a label), its SQL type and its proto3
default (``''``, ``false``, ``0``, the enum's zero name). ``statements(dialect)`` turns the table into
``CREATE VIEW`` text for SQLite (``json_extract``) or PostgreSQL (``->``/``->>`` and casts); the
migration that creates the views calls it, and so must any later migration that changes this table.

Per collection ``c`` (``-`` becomes ``_``):

- ``current_c``: one row per live resource, read from the ``resources`` projection;
- ``history_c``: one row per version, read from the ``events`` log. A version of a collection with joined
  kinds is any event of the listed kind or of a joined kind (a MachineStatus change is a version of the
  machine, as in the API). ``valid_from``/``valid_to`` bound the version in time (UTC); a ``destroyed``
  row is a zero-length interval, so ``valid_from <= T AND (valid_to > T OR valid_to IS NULL)`` is the
  state at T;

plus ``calendar`` (one row per UTC day from the first logged event to today) and ``daily_fleet``
(machines and clusters per day, at the end of each day, from the history views).

Specs are protobuf JSON with proto field names: enums are names, 64-bit integers are strings, zero values
are left out, which is why every typed column is wrapped in COALESCE with its default.
"""

# ruff: noqa: S608 - view SQL is generated from the declarations below, never from input
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models import catalog
from models.catalog import LABEL_CLUSTER, LABEL_CLUSTER_MACHINE, LABEL_MACHINE, LABEL_MACHINE_SET

SQLITE = "sqlite"
POSTGRESQL = "postgresql"

# Column types. `count`/`sum`/`length` aggregate an array or measure a string; `exists` is true when
# the source is present (label flags such as omni.sidero.dev/role-controlplane have the value "").
TEXT, BOOL, INT, ENUM, JSON, TIME, COUNT, SUM, LENGTH, EXISTS = (
    "text", "bool", "int", "enum", "json", "time", "count", "sum", "length", "exists")
SQL_TYPES = {TEXT: "text", BOOL: "boolean", INT: "bigint", ENUM: "text", JSON: "json", TIME: "timestamp",
             COUNT: "bigint", SUM: "bigint", LENGTH: "bigint", EXISTS: "boolean"}


@dataclass(frozen=True)
class Column:
    """One typed column. ``source``: ``spec.a.b`` (the listed kind), ``<join>.spec.a.b`` (a joined kind),
    ``label:KEY`` or ``<join>.label:KEY``; ``a|b`` takes the first non-empty of two text sources."""

    name: str
    source: str
    type: str = TEXT
    default: str = ""  # enum: the zero value's name; json: '[]' or '{}'
    member: str = ""  # sum: the member of each array element that is added up
    api: str = ""  # the collection document's field this column mirrors (dotted for nested objects)
    description: str = ""

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    @property
    def proto3_default(self) -> object:
        """The value a missing source reads as (None for timestamps: unset has no value to show)."""
        return {TEXT: "", ENUM: self.default, BOOL: False, EXISTS: False, JSON: self.default or "[]",
                TIME: None}.get(self.type, 0)


@dataclass(frozen=True)
class View:
    collection: str  # the API collection (`/api/v1/<collection>`)
    kind: str  # catalog kind name of the listed resources
    columns: tuple[Column, ...]
    joins: Mapping[str, str] = field(default_factory=dict)  # alias -> catalog kind name, same id
    description: str = ""

    @property
    def name(self) -> str:
        return self.collection.replace("-", "_")

    @property
    def current(self) -> str:
        return f"current_{self.name}"

    @property
    def history(self) -> str:
        return f"history_{self.name}"


def text(name: str, source: str | None = None, *, api: str = "", description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", TEXT, api=api, description=description)


def flag(name: str, source: str | None = None, *, api: str = "", description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", BOOL, api=api, description=description)


def integer(name: str, source: str | None = None, *, api: str = "", description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", INT, api=api, description=description)


def enum(name: str, zero: str, source: str | None = None, *, api: str = "", description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", ENUM, default=zero, api=api, description=description)


def json_list(name: str, source: str | None = None, *, api: str = "", description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", JSON, default="[]", api=api, description=description)


def time(name: str, source: str | None = None, *, description: str = "") -> Column:
    return Column(name, source or f"spec.{name}", TIME, description=description)


def count(name: str, source: str, *, description: str = "") -> Column:
    return Column(name, source, COUNT, description=description)


def total(name: str, source: str, member: str, *, description: str = "") -> Column:
    return Column(name, source, SUM, member=member, description=description)


def length(name: str, source: str, *, description: str = "") -> Column:
    return Column(name, source, LENGTH, description=description)


def exists(name: str, source: str, *, description: str = "") -> Column:
    return Column(name, source, EXISTS, description=description)


CLUSTER = text("cluster", "label:" + LABEL_CLUSTER, description="cluster id (label omni.sidero.dev/cluster)")
MACHINE_SET = text("machine_set", "label:" + LABEL_MACHINE_SET, description="machine set id (label)")
CONTROLPLANE = exists("controlplane", "label:omni.sidero.dev/role-controlplane",
                      description="true for control-plane members (label omni.sidero.dev/role-controlplane)")
_MACHINE_COUNTS = tuple(
    integer(f"machines_{n}", f"status.spec.machines.{n}", description=f"machines {n} (from the status)")
    for n in ("total", "healthy", "connected", "requested"))

VIEWS: tuple[View, ...] = (
    View("clusters", "Cluster", (
        text("kubernetes_version", api="kubernetes_version", description="desired Kubernetes version"),
        text("talos_version", api="talos_version", description="desired Talos version"),
        flag("workload_proxy", "spec.features.enable_workload_proxy", api="features.workload_proxy"),
        flag("disk_encryption", "spec.features.disk_encryption", api="features.disk_encryption"),
        flag("backups_enabled", "spec.backup_configuration.enabled", description="etcd backups enabled"),
        enum("status_phase", "UNKNOWN", "status.spec.phase",
             description="ClusterStatus phase: UNKNOWN SCALING_UP SCALING_DOWN RUNNING DESTROYING"),
        flag("ready", "status.spec.ready"),
        flag("available", "status.spec.available"),
        flag("kubernetes_api_ready", "status.spec.kubernetesAPIReady"),
        flag("controlplane_ready", "status.spec.controlplaneReady"),
        *_MACHINE_COUNTS,
        enum("talos_upgrade_phase", "Unknown", "talos_upgrade.spec.phase"),
        enum("kubernetes_upgrade_phase", "Unknown", "kubernetes_upgrade.spec.phase"),
    ), joins={"status": "ClusterStatus", "talos_upgrade": "TalosUpgradeStatus",
              "kubernetes_upgrade": "KubernetesUpgradeStatus"},
        description="clusters with their status and upgrade phases"),
    View("machines", "Machine", (
        text("hostname", "status.spec.network.hostname", api="hostname"),
        text("cluster", "status.spec.cluster", description="cluster the machine is allocated to ('' when free)"),
        text("machine_set", "status.label:" + LABEL_MACHINE_SET),
        enum("role", "NONE", "status.spec.role", api="role", description="NONE CONTROL_PLANE WORKER"),
        text("talos_version", "status.spec.talos_version", api="talos_version"),
        text("initial_talos_version", "status.spec.initial_talos_version"),
        text("kubernetes_version", "cluster_machine.spec.kubernetes_version",
             description="from the ClusterMachine ('' when not in a cluster)"),
        text("schematic_id", "status.spec.schematic.full_id"),
        text("management_address", api="management_address"),
        flag("connected", api="connected", description="Omni's SideroLink connection (Machine spec)"),
        flag("use_grpc_tunnel", api="use_grpc_tunnel"),
        flag("maintenance", "status.spec.maintenance", api="maintenance"),
        enum("power_state", "POWER_STATE_UNKNOWN", "status.spec.power_state"),
        text("platform", "status.spec.platform_metadata.platform", api="platform"),
        text("region", "status.spec.platform_metadata.region"),
        text("zone", "status.spec.platform_metadata.zone"),
        text("instance_type", "status.spec.platform_metadata.instance_type"),
        text("arch", "status.spec.hardware.arch", api="arch"),
        total("cpu_cores", "status.spec.hardware.processors", "core_count", description="sum over processors"),
        total("cpu_threads", "status.spec.hardware.processors", "thread_count"),
        total("memory_mb", "status.spec.hardware.memory_modules", "size_mb", description="sum over modules"),
        count("disks", "status.spec.hardware.blockdevices", description="block devices"),
        total("disk_bytes", "status.spec.hardware.blockdevices", "size", description="sum of block device sizes"),
        flag("secure_boot", "status.spec.security_state.secure_boot"),
        text("last_error", "status.spec.last_error", api="last_error"),
    ), joins={"status": "MachineStatus", "cluster_machine": "ClusterMachine"},
        description="machines with their MachineStatus (hardware, versions, role) as /api/v1/machines joins it"),
    View("machinesets", "MachineSet", (
        CLUSTER,
        exists("controlplane", "label:omni.sidero.dev/role-controlplane"),
        text("machine_class", "spec.machine_allocation.name|spec.machine_class.name", api="machine_class"),
        integer("machine_count", "spec.machine_allocation.machine_count"),
        enum("update_strategy", "Unset", api="update_strategy"),
        enum("delete_strategy", "Unset", api="delete_strategy"),
        enum("status_phase", "Unknown", "status.spec.phase",
             description="MachineSetStatus phase: Unknown ScalingUp ScalingDown Running Destroying Failed "
                         "Reconfiguring Upgrading"),
        flag("ready", "status.spec.ready"),
        *_MACHINE_COUNTS,
        integer("locked_updates", "status.spec.locked_updates"),
    ), joins={"status": "MachineSetStatus"}),
    View("machinesetnodes", "MachineSetNode", (CLUSTER, MACHINE_SET, CONTROLPLANE)),
    View("configpatches", "ConfigPatch", (
        CLUSTER, MACHINE_SET,
        text("cluster_machine", "label:" + LABEL_CLUSTER_MACHINE),
        text("machine", "label:" + LABEL_MACHINE),
        exists("system_patch", "label:omni.sidero.dev/system-patch"),
        exists("disabled", "label:omni.sidero.dev/disabled"),
        length("data_length", "spec.data", description="characters of patch text"),
    )),
    View("clustermachines", "ClusterMachine", (
        CLUSTER, MACHINE_SET, CONTROLPLANE,
        text("kubernetes_version", api="kubernetes_version"),
        text("talos_version", "talos.spec.talos_version"),
        text("schematic_id", "talos.spec.schematic_id"),
        enum("stage", "UNKNOWN", "status.spec.stage"),
        flag("ready", "status.spec.ready"),
        flag("config_up_to_date", "status.spec.config_up_to_date"),
        enum("config_apply_status", "UNKNOWN", "status.spec.config_apply_status"),
        flag("is_removed", "status.spec.is_removed"),
        text("management_address", "status.spec.management_address"),
        text("last_config_error", "status.spec.last_config_error"),
        text("config_version", "config.spec.cluster_machine_config_version"),
    ), joins={"status": "ClusterMachineStatus", "talos": "ClusterMachineTalosVersion",
              "config": "ClusterMachineConfigStatus"},
        description="cluster machines with their status (stage, ready, config up to date)"),
    View("machineclasses", "MachineClass", (
        json_list("match_labels", api="match_labels"),
        exists("auto_provision", "spec.auto_provision"),
        text("provider_id", "spec.auto_provision.provider_id"),
    )),
    View("etcdbackups", "EtcdBackup", (
        CLUSTER,
        text("snapshot", api="snapshot"),
        time("created_at", description="when the backup was taken (NULL if unset)"),
        integer("size", api="size", description="bytes"),
    )),
    View("etcd-manual-backups", "EtcdManualBackup", (time("backup_at"),)),
    View("schematic-configurations", "SchematicConfiguration", (
        CLUSTER, MACHINE_SET,
        text("schematic_id", api="schematic_id"),
        text("talos_version", api="talos_version"),
    )),
    View("ongoingtasks", "OngoingTask", (
        text("title", api="title"),
        text("resource_id", api="resource_id"),
    )),
    View("kubernetes-versions", "KubernetesVersion", (text("kubernetes_version", "spec.version", api="version"),)),
    View("extensions-configurations", "ExtensionsConfiguration", (
        CLUSTER, MACHINE_SET, json_list("extensions", api="extensions"))),
    View("kernel-args", "KernelArgs", (json_list("args", api="args"),)),
    View("loadbalancer-configs", "LoadBalancerConfig", (
        text("bind_port", api="bind_port"),
        text("siderolink_endpoint", api="siderolink_endpoint"),
        json_list("endpoints", api="endpoints"),
        flag("healthy", "status.spec.healthy"),
        flag("stopped", "status.spec.stopped"),
    ), joins={"status": "LoadBalancerStatus"}),
    View("exposed-services", "ExposedService", (
        CLUSTER,
        integer("port", api="port"),
        text("label", api="label"),
        text("url", api="url"),
        text("error", api="error"),
        flag("has_explicit_alias", api="has_explicit_alias"),
    )),
    View("machine-request-sets", "MachineRequestSet", (
        text("provider_id", api="provider_id"),
        integer("machine_count", api="machine_count"),
        text("talos_version", api="talos_version"),
        enum("grpc_tunnel", "UNSET", api="grpc_tunnel"),
        json_list("extensions", api="extensions"),
    )),
    View("image-pull-requests", "ImagePullRequest", (
        count("nodes", "spec.node_image_list"),
        integer("processed_count", "status.spec.processed_count"),
        integer("total_count", "status.spec.total_count"),
        text("last_processed_node", "status.spec.last_processed_node"),
        text("last_processed_error", "status.spec.last_processed_error"),
    ), joins={"status": "ImagePullStatus"}),
    View("installation-medias", "InstallationMedia", (
        text("name", api="name"),
        text("architecture", api="architecture"),
        text("profile", api="profile"),
        text("content_type", "spec.contentType", api="content_type"),
        text("extension", api="extension"),
        text("overlay", api="overlay"),
        text("min_talos_version", api="min_talos_version"),
        flag("no_secure_boot", api="no_secure_boot"),
    )),
    View("infra-machine-configs", "InfraMachineConfig", (
        enum("power_state", "POWER_STATE_DEFAULT", api="power_state"),
        enum("acceptance_status", "PENDING", api="acceptance_status"),
        text("extra_kernel_args", api="extra_kernel_args"),
        text("requested_reboot_id", api="requested_reboot_id"),
        flag("cordoned", api="cordoned"),
    )),
)

# Columns every current_* view starts with, and every history_* view (plus the version columns).
COMMON_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "text", "resource id"),
    ("namespace", "text", "COSI namespace"),
    ("revision", "bigint", "current_*: last revision that changed the row (its document included); "
                           "history_*: the revision of this version"),
    ("created", "timestamp", "COSI created time (UTC)"),
    ("updated", "timestamp", "COSI updated time (UTC)"),
    ("phase", "text", "COSI resource phase: running or tearingDown"),
    ("labels", "json", "labels as a JSON object"),
)
HISTORY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("event", "text", "created | updated | destroyed (a joined kind's change is an update)"),
    ("version", "bigint", "COSI version of the listed resource"),
    ("observed_at", "timestamp", "when the watcher applied the change (UTC)"),
    ("observed_ms", "bigint", "observed_at as milliseconds since 1970-01-01 UTC (for durations)"),
    ("observed_day", "date", "the UTC day of observed_at (as calendar.day)"),
    ("valid_from", "timestamp", "= observed_at"),
    ("valid_to", "timestamp", "when the next version took over; NULL while current; = valid_from when destroyed"),
    ("next_revision", "bigint", "revision of the next version; NULL while current"),
)


def _check_names() -> None:
    reserved = {name for name, _, _ in COMMON_COLUMNS + HISTORY_COLUMNS}
    for view in VIEWS:
        names = [c.name for c in view.columns]
        clash = (set(names) & reserved) | {n for n in names if names.count(n) > 1}
        if clash:
            raise ValueError(f"view {view.name}: column names {sorted(clash)} are taken")


_check_names()


def by_collection(collection: str) -> View:
    for view in VIEWS:
        if view.collection == collection:
            return view
    raise KeyError(collection)


def view_names() -> list[str]:
    """Every view this module creates, in creation order (drop in reverse)."""
    names = ["calendar"]
    for view in VIEWS:
        names += [view.current, view.history]
    return [*names, "daily_fleet"]


# --- SQL generation --------------------------------------------------------------------------------

def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class _Sql:
    """The dialect-specific pieces: JSON access, casts and time arithmetic."""

    def __init__(self, dialect: str, legacy: bool = False) -> None:
        if dialect not in (SQLITE, POSTGRESQL):
            raise ValueError(f"unsupported dialect {dialect!r}")
        self.pg = dialect == POSTGRESQL
        self.legacy = legacy  # the compact log of migrations 0006-0007: its SQLite timestamps are text

    def json(self, ref: str, path: list[str]) -> str:
        """The JSON value at ``path`` (JSON text on SQLite, jsonb on PostgreSQL)."""
        if self.pg:
            return ref + "".join(f"->{_literal(p)}" for p in path)
        return f"json_extract({ref}, {self._path(path)})"

    def scalar(self, ref: str, path: list[str]) -> str:
        """The value at ``path`` as SQL text (SQLite: as stored, which json_extract unquotes)."""
        if self.pg:
            return ref + "".join(f"->{_literal(p)}" for p in path[:-1]) + f"->>{_literal(path[-1])}"
        return f"json_extract({ref}, {self._path(path)})"

    @staticmethod
    def _path(path: list[str]) -> str:
        for part in path:
            if '"' in part:
                raise ValueError(f"JSON path member {part!r} contains a double quote")
        return _literal("$" + "".join(f'."{p}"' for p in path))

    def typed(self, column: Column, ref: str, path: list[str]) -> str:
        t, pg = column.type, self.pg
        if t in (TEXT, ENUM):
            return f"COALESCE({self.scalar(ref, path)}, {_literal(column.proto3_default)})"
        if t == BOOL:
            return (f"COALESCE(({self.scalar(ref, path)})::boolean, false)" if pg
                    else f"COALESCE({self.scalar(ref, path)}, 0)")
        if t == INT:
            return (f"COALESCE(({self.scalar(ref, path)})::bigint, 0)" if pg
                    else f"COALESCE(CAST({self.scalar(ref, path)} AS INTEGER), 0)")
        if t == JSON:
            default = column.proto3_default
            return f"COALESCE({self.json(ref, path)}, {_literal(default)}::jsonb)" if pg else \
                f"COALESCE({self.json(ref, path)}, {_literal(default)})"
        if t == TIME:
            return f"({self.scalar(ref, path)})::timestamptz" if pg else f"datetime({self.scalar(ref, path)})"
        if t == COUNT:
            return (f"COALESCE(jsonb_array_length({self.json(ref, path)}), 0)" if pg
                    else f"COALESCE(json_array_length({ref}, {self._path(path)}), 0)")
        if t == SUM:
            if pg:
                return (f"(SELECT COALESCE(SUM((e.value->>{_literal(column.member)})::bigint), 0)::bigint "
                        f"FROM jsonb_array_elements(COALESCE({self.json(ref, path)}, '[]'::jsonb)) AS e(value))")
            return (f"(SELECT COALESCE(SUM(CAST(json_extract(e.value, {self._path([column.member])}) AS INTEGER)), 0) "
                    f"FROM json_each({ref}, {self._path(path)}) AS e)")
        if t == LENGTH:
            return f"COALESCE(length({self.scalar(ref, path)}), 0)"
        if t == EXISTS:
            return f"(({self.json(ref, path)}) IS NOT NULL)" if pg else \
                f"(json_type({ref}, {self._path(path)}) IS NOT NULL)"
        raise ValueError(f"unknown column type {t!r}")

    def stamp(self, ref: str) -> str:
        """A timestamp of the log's own tables as the views show it (``models.schema.LogTime``)."""
        return stamp_sql(POSTGRESQL if self.pg or self.legacy else SQLITE, ref)

    def day_of(self, ref: str) -> str:
        return f"({ref} AT TIME ZONE 'UTC')::date" if self.pg else f"date({ref})"

    def epoch_ms(self, ref: str) -> str:
        if self.pg:
            return f"CAST(ROUND(EXTRACT(EPOCH FROM {ref}) * 1000) AS BIGINT)"
        return f"CAST(ROUND((julianday({ref}) - 2440587.5) * 86400000.0) AS INTEGER)"

    def calendar(self, log: str = "event_log", also_from: str = "") -> str:
        """Days from the first event of ``log`` (or the first day ``also_from``, a one-day SELECT, gives if
        that is earlier) to today."""
        if self.pg:
            first = f"SELECT (MIN(observed_at) AT TIME ZONE 'UTC')::date FROM {log}"
            if also_from:
                first = f"SELECT MIN(f.day) FROM ({first} UNION ALL {also_from}) AS f(day)"
            return ("WITH RECURSIVE days(day) AS (\n"
                    f"  {first}\n"
                    "  UNION ALL SELECT day + 1 FROM days WHERE day < (now() AT TIME ZONE 'UTC')::date\n)\n"
                    "SELECT day, (day::timestamp AT TIME ZONE 'UTC') AS day_start,\n"
                    "       ((day + 1)::timestamp AT TIME ZONE 'UTC') AS day_end,\n"
                    "       date_trunc('week', day)::date AS week\n"
                    "FROM days WHERE day IS NOT NULL")
        first = f"SELECT date({self.stamp('MIN(observed_at)') if log == 'event_log' else 'MIN(observed_at)'}) AS day FROM {log}"
        if also_from:
            first = f"SELECT MIN(f.day) FROM ({first} UNION ALL {also_from}) AS f"
        return ("WITH RECURSIVE days(day) AS (\n"
                f"  {first}\n"
                "  UNION ALL SELECT date(day, '+1 day') FROM days WHERE day < date('now')\n)\n"
                "SELECT day, day || ' 00:00:00.000000' AS day_start,\n"
                "       date(day, '+1 day') || ' 00:00:00.000000' AS day_end,\n"
                "       date(day, 'weekday 0', '-6 days') AS week\n"
                "FROM days WHERE day IS NOT NULL")


def stamp_sql(dialect: str, ref: str) -> str:
    """``ref``, a ``LogTime`` column, as a timestamp: as it is on PostgreSQL; on SQLite, integer microseconds
    turned into SQLAlchemy's text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), so readers get what they got when
    the log stored that text. Floor division, so times before 1970 come out right too."""
    if dialect == POSTGRESQL:
        return ref
    frac = f"(({ref}) % 1000000 + 1000000) % 1000000"
    return (f"(strftime('%Y-%m-%d %H:%M:%S', (({ref}) - {frac}) / 1000000, 'unixepoch') "
            f"|| printf('.%06d', {frac}))")


def _plain(alias: str, member: str) -> str:
    return f"{alias}.{member}"


def _compact(alias: str, member: str) -> str:
    """In the compact log, labels are in the event's ``metas`` row, the spec in its ``specs`` row."""
    return f"{alias}_m.labels" if member == "labels" else f"{alias}_s.spec"


def _source(column: Column, sql: _Sql, base: str, joins: Mapping[str, str], where=_plain) -> str:
    """The SQL expression of one typed column, with ``base`` the alias of the listed kind's row."""
    alternatives = column.source.split("|")
    expressions = []
    for alternative in alternatives:
        alias, _, rest = alternative.partition(".") if not alternative.startswith(("spec.", "label:")) \
            else ("", "", alternative)
        if alias and alias not in joins:
            raise ValueError(f"column {column.name}: unknown join {alias!r}")
        ref_alias = f"j_{alias}" if alias else base
        if rest.startswith("label:"):
            ref, path = where(ref_alias, "labels"), [rest[len("label:"):]]
        elif rest.startswith("spec."):
            ref, path = where(ref_alias, "spec"), rest[len("spec."):].split(".")
        else:
            raise ValueError(f"column {column.name}: bad source {column.source!r}")
        expressions.append(sql.typed(column, ref, path))
    if len(expressions) == 1:
        return expressions[0]
    if column.type != TEXT:
        raise ValueError(f"column {column.name}: alternatives need a text column")
    return "COALESCE(" + ", ".join(f"NULLIF({e}, '')" for e in expressions) + ", '')"


def _kind_filter(alias: str, kind_name: str) -> str:
    kind = catalog.by_name(kind_name)
    return f"{alias}.namespace = {_literal(kind.namespace)} AND {alias}.type = {_literal(kind.type)}"


def current_sql(view: View, dialect: str) -> str:
    sql = _Sql(dialect)
    typed = [f"{_source(c, sql, 'b', view.joins)} AS {c.name}" for c in view.columns]
    joins = [f"LEFT JOIN resources j_{alias} ON {_kind_filter(f'j_{alias}', kind)} AND j_{alias}.id = b.id"
             for alias, kind in view.joins.items()]
    return "\n".join([
        "SELECT b.id, b.namespace, b.revision, b.created, b.updated, b.phase, b.labels,",
        "  " + ",\n  ".join(typed),
        "FROM resources b",
        *joins,
        f"WHERE {_kind_filter('b', view.kind)}",
    ])


def history_sql(view: View, dialect: str, compact: bool = True, legacy: bool = False) -> str:
    """Versions of the listed kind, plus one per change of a joined kind while the listed one exists.

    ``compact``: read the log's own tables (``event_log`` with ``resource_keys``, ``metas``, ``specs``;
    models/eventlog.py) rather than the ``events`` view, whose joins a query planner cannot push through
    a LEFT JOIN; ``compact=False`` is the SQL of migrations 0004-0005, over the old ``events`` table.
    ``legacy``: the compact log of migrations 0006-0007 (text timestamps on SQLite, ``created`` in ``metas``)."""
    sql = _Sql(dialect, legacy)
    where = _compact if compact else _plain
    typed = [f"{_source(c, sql, 'b', view.joins, where)} AS {c.name}" for c in view.columns]
    kinds = [view.kind, *view.joins.values()]
    key = "k" if compact else "p"  # the alias that has namespace, type and id
    points = " OR ".join(f"({_kind_filter(key, k)})" for k in kinds)
    base = _kind_filter(key, view.kind)
    if view.joins:
        # the last revision of each kind at or before this point: one window pass over the resource's events
        last = ",\n    ".join(
            f"MAX(CASE WHEN {_kind_filter(key, kind)} THEN p.revision END) OVER upto AS r_{alias}"
            for alias, kind in [("b", view.kind), *view.joins.items()])
        last += f",\n    MAX(CASE WHEN {base} AND p.event = 'destroyed' THEN p.revision END) OVER upto AS r_gone"
        window = (f"  WINDOW upto AS (PARTITION BY {key}.id ORDER BY p.revision "
                  "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
        alive = "r_b IS NOT NULL AND (r_gone IS NULL OR r_gone <> r_b OR revision = r_b)"
    else:
        last, window, alive = "p.revision AS r_b", "", "1 = 1"
    carried = ", ".join(f"r_{alias}" for alias in ["b", *view.joins])
    if compact:
        log = "event_log p JOIN resource_keys k ON k.key_id = p.key_id"
        listed = ["JOIN event_log b ON b.revision = v.r_b",
                  "JOIN metas b_m ON b_m.meta_id = b.meta_id",
                  "JOIN specs b_s ON b_s.spec_id = b.spec_id"]
        joins = [f"LEFT JOIN event_log j_{a} ON j_{a}.revision = v.r_{a} AND j_{a}.event <> 'destroyed'\n"
                 f"LEFT JOIN metas j_{a}_m ON j_{a}_m.meta_id = j_{a}.meta_id\n"
                 f"LEFT JOIN specs j_{a}_s ON j_{a}_s.spec_id = j_{a}.spec_id" for a in view.joins]
        namespace = f"{_literal(catalog.by_name(view.kind).namespace)} AS namespace"
        observed = sql.stamp("p.observed_at")
        created = sql.stamp("b_m.created" if legacy else "b.created")
        updated, labels = sql.stamp("b.updated"), "b_m.labels"
    else:
        log = "events p"
        listed = ["JOIN events b ON b.revision = v.r_b AND b.id = v.id"]
        joins = [f"LEFT JOIN events j_{a} ON j_{a}.revision = v.r_{a} AND j_{a}.event <> 'destroyed'"
                 for a in view.joins]
        namespace, observed = "b.namespace", "p.observed_at"
        created, updated, labels = "b.created", "b.updated", "b.labels"
    # Window functions stay in the CTEs over the log's narrow columns; the outer SELECT is a plain join, so a
    # query over the view can skip the typed columns it does not read.
    return "\n".join([
        "WITH points AS (",
        f"  SELECT {key}.id, p.revision, {observed} AS observed_at, p.event,",
        f"    {last}",
        f"  FROM {log} WHERE {points}",
        *([window] if window else []),
        "), v AS (",
        f"  SELECT id, revision, observed_at, {carried},",
        "    CASE WHEN revision = r_b THEN event ELSE 'updated' END AS event,",
        "    CASE WHEN revision = r_b AND event = 'destroyed' THEN observed_at",
        "         ELSE LEAD(observed_at) OVER w END AS valid_to,",
        "    LEAD(revision) OVER w AS next_revision",
        f"  FROM points WHERE {alive}",
        "  WINDOW w AS (PARTITION BY id ORDER BY revision)",
        ")",
        f"SELECT v.id, {namespace}, v.revision, v.event, b.version, v.observed_at,",
        "  " + sql.epoch_ms("v.observed_at") + " AS observed_ms,",
        "  " + sql.day_of("v.observed_at") + " AS observed_day,",
        "  v.observed_at AS valid_from, v.valid_to, v.next_revision,",
        f"  {created} AS created, {updated} AS updated, {'b_m' if compact else 'b'}.phase, {labels} AS labels,",
        "  " + ",\n  ".join(typed),
        "FROM v",
        *listed,
        *joins,
    ])


def daily_values_sql(view: str, value: str, member: str, *, keep_zero: bool = False) -> str:
    """(day, day_end, value, count): per calendar day, the resources of history view ``view`` for which
    ``member`` holds at the end of the day, by ``value`` (an expression over the view's columns).

    Dialect-free, and linear in the history: each version adds itself to its value on its day and takes
    its predecessor away from the predecessor's value; a running sum per value over the days does the
    rest. ``member`` may use bound parameters (the reports' ``:cluster``)."""
    return f"""WITH h AS (
  SELECT id, revision, observed_day AS day, {value} AS value,
         CASE WHEN event <> 'destroyed' AND {member} THEN 1 ELSE 0 END AS m
  FROM {view}
), c AS (
  SELECT day, value, m, LAG(value) OVER w AS pv, LAG(m) OVER w AS pm
  FROM h WINDOW w AS (PARTITION BY id ORDER BY revision)
), deltas AS (
  SELECT day, value, SUM(n) AS n FROM (
    SELECT day, value, 1 AS n FROM c WHERE m = 1
    UNION ALL SELECT day, pv, -1 FROM c WHERE pm = 1) AS x
  GROUP BY day, value
), {running_counts_sql("calendar", keep_zero=keep_zero)}"""


def running_counts_sql(calendar: str, *, keep_zero: bool = False) -> str:
    """The end of a daily count query, after a ``deltas`` CTE (day, value, n: the day's change of each
    value's count): each value's running sum over the days of ``calendar``. Shared by the log-computed
    counts (``daily_values_sql``) and the rollup's (``models.rollup.values_sql``)."""
    return f"""grid AS (
  SELECT d.day, d.day_end, v.value, COALESCE(x.n, 0) AS n
  FROM {calendar} d CROSS JOIN (SELECT DISTINCT value FROM deltas) AS v
  LEFT JOIN deltas x ON x.day = d.day AND x.value = v.value
)
SELECT day, day_end, value, count FROM (
  SELECT day, day_end, value, SUM(n) OVER (PARTITION BY value ORDER BY day) AS count FROM grid) AS t
{"" if keep_zero else "WHERE count > 0"}"""


def daily_fleet_sql(dialect: str) -> str:
    """Long format, one row per (day, subject, dimension, value): the state at the end of each UTC day."""
    alive = "1 = 1"
    parts = [
        ("machines", "total", daily_values_sql("history_machines", "''", alive, keep_zero=True)),
        ("machines", "connected", daily_values_sql("history_machines", "''", "connected", keep_zero=True)),
        ("machines", "talos_version", daily_values_sql("history_machines", "talos_version", alive)),
        ("clusters", "total", daily_values_sql("history_clusters", "''", alive, keep_zero=True)),
        ("clusters", "phase", daily_values_sql("history_clusters", "status_phase", alive)),
    ]
    return "\nUNION ALL\n".join(
        f"SELECT day, '{subject}' AS subject, '{dimension}' AS dimension, value, count FROM (\n{sql}\n) AS s"
        for subject, dimension, sql in parts)


def statements(dialect: str, compact: bool = True, legacy: bool = False) -> list[str]:
    """``CREATE VIEW`` statements for every reporting view, in dependency order (``compact=False``: over
    the ``events`` table of migrations 0001-0005; ``legacy``: over the compact log of migrations 0006-0007)."""
    out = [f"CREATE VIEW calendar AS\n{_Sql(dialect, legacy).calendar('event_log' if compact else 'events')}"]
    for view in VIEWS:
        out.append(f"CREATE VIEW {view.current} AS\n{current_sql(view, dialect)}")
        out.append(f"CREATE VIEW {view.history} AS\n{history_sql(view, dialect, compact, legacy)}")
    out.append(f"CREATE VIEW daily_fleet AS\n{daily_fleet_sql(dialect)}")
    return out


def drop_statements() -> list[str]:
    return [f"DROP VIEW IF EXISTS {name}" for name in reversed(view_names())]
