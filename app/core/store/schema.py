"""Table definitions. Times are UTC epoch seconds (double); ids are UUID strings; JSON for nested data."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

ID = sa.String(36)


def _id_col() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


roles = sa.Table(
    "roles", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("permissions", sa.JSON, nullable=False),
)

users = sa.Table(
    "users", metadata, _id_col(),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False, default=""),
    sa.Column("password_hash", sa.String(300), nullable=False, default=""),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.Double),
    # sign-in bookkeeping (issue 14): wrong passwords in a row, when the next try is allowed, locked until
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("retry_at", sa.Double),
    sa.Column("locked_until", sa.Double),
    sa.Column("last_login_at", sa.Double),
    # bumped on a new password, a role change or disabling: every token issued before stops working
    sa.Column("token_version", sa.Integer, nullable=False, default=0),
)

vendors = sa.Table(
    "vendors", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("contact", sa.String(300), nullable=False, default=""),
    sa.Column("certifications", sa.JSON, nullable=False),
)

sites = sa.Table(
    "sites", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("site_key", sa.String(128), nullable=False, default=""),
    sa.Column("address", sa.String(300), nullable=False, default=""),
    sa.Column("latitude", sa.Double),
    sa.Column("longitude", sa.Double),
    sa.Column("local", sa.Boolean, nullable=False, default=False),
)

nodes = sa.Table(
    "nodes", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("capabilities", sa.JSON, nullable=False),
    sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id", ondelete="SET NULL")),
    sa.Column("config_profile_id", ID),
    sa.Column("location", sa.String(200), nullable=False, default=""),
    sa.Column("address", sa.String(300), nullable=False, default="", index=True),
    sa.Column("driver", sa.String(32), nullable=False, default="sim"),
    sa.Column("energy_level", sa.Double, nullable=False, default=0.0),
    sa.Column("material_levels", sa.JSON, nullable=False),
    sa.Column("uptime_s", sa.Integer, nullable=False, default=0),
    sa.Column("last_maintenance", sa.Double),
    sa.Column("software_version", sa.String(64), nullable=False, default=""),
    sa.Column("registered_at", sa.Double),
)

node_configs = sa.Table(
    "node_configs", metadata, _id_col(),
    sa.Column("node_id", ID, sa.ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("software_version", sa.String(64), nullable=False, default=""),
    sa.Column("capabilities", sa.JSON, nullable=False),
    sa.Column("layout", sa.JSON, nullable=False),
    sa.Column("sensors", sa.JSON, nullable=False),
    sa.Column("custom_settings", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

node_maintenance = sa.Table(
    "node_maintenance", metadata, _id_col(),
    sa.Column("node_id", ID, sa.ForeignKey("nodes.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("scheduled_date", sa.Double, nullable=False),
    sa.Column("completed_date", sa.Double),
    sa.Column("performed_by", ID),
    sa.Column("notes", sa.Text, nullable=False, default=""),
)

templates = sa.Table(
    "templates", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("parts", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("vendor_id", ID, sa.ForeignKey("vendors.id", ondelete="SET NULL")),
)

playbooks = sa.Table(
    "playbooks", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("steps", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("version", sa.Integer, nullable=False, default=1),
)

jobs = sa.Table(
    "jobs", metadata, _id_col(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("template_id", ID, sa.ForeignKey("templates.id", ondelete="SET NULL")),
    sa.Column("submitted_at", sa.Double, index=True),
    sa.Column("completed_at", sa.Double),
    sa.Column("due_at", sa.Double),
    sa.Column("estimated_duration_s", sa.Integer, nullable=False, default=0),
    sa.Column("estimated_energy_kwh", sa.Double, nullable=False, default=0.0),
    sa.Column("estimated_material", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.CheckConstraint("priority BETWEEN 1 AND 10", name="ck_jobs_priority"),
)

parts = sa.Table(
    "parts", metadata, _id_col(),
    sa.Column("job_id", ID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("process", sa.String(32), nullable=False),
    sa.Column("material_type", sa.String(64), nullable=False),
    sa.Column("size_x_mm", sa.Double, nullable=False),
    sa.Column("size_y_mm", sa.Double, nullable=False),
    sa.Column("size_z_mm", sa.Double, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("complexity", sa.Integer, nullable=False),
    sa.Column("batch_group", sa.String(100), nullable=False, default=""),
    sa.Column("file_path", sa.String(1000)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("assigned_node", ID, sa.ForeignKey("nodes.id", ondelete="SET NULL")),
    sa.Column("estimated_duration_s", sa.Integer, nullable=False, default=0),
    sa.Column("estimated_energy_kwh", sa.Double, nullable=False, default=0.0),
    sa.Column("estimated_material_g", sa.Double, nullable=False, default=0.0),
    sa.Column("progress", sa.Double, nullable=False, default=0.0),
    sa.Column("depends_on", sa.JSON, nullable=False),
    sa.CheckConstraint("quantity >= 1", name="ck_parts_quantity"),
    sa.CheckConstraint("size_x_mm > 0 AND size_y_mm > 0 AND size_z_mm > 0", name="ck_parts_size"),
)

state_changes = sa.Table(
    "state_changes", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("obj_id", ID, nullable=False, index=True),
    sa.Column("from_state", sa.String(20)),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("actor", sa.String(100), nullable=False, default="system"),
    sa.Column("extra", sa.JSON, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", ID, nullable=False, unique=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.String(120), nullable=False, index=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    # the hash chain (app/core/audit_chain.py): each record carries the hash of the one before
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
)

alerts = sa.Table(
    "alerts", metadata, _id_col(),
    sa.Column("source", sa.String(120), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("raised_at", sa.Double, nullable=False, index=True),
    sa.Column("node_id", ID),
    sa.Column("acknowledged_at", sa.Double),
    sa.Column("acknowledged_by", sa.String(100)),
)

telemetry_raw = sa.Table(
    "telemetry_raw", metadata,
    sa.Column("node_id", ID, nullable=False),
    sa.Column("metric", sa.String(40), nullable=False),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("job_id", ID),
    sa.Index("ix_telemetry_raw_node_metric_ts", "node_id", "metric", "ts"),
)

telemetry_rollup = sa.Table(
    "telemetry_rollup", metadata,
    sa.Column("node_id", ID, primary_key=True),
    sa.Column("metric", sa.String(40), primary_key=True),
    sa.Column("minute", sa.Double, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("vmin", sa.Double, nullable=False),
    sa.Column("vmean", sa.Double, nullable=False),
    sa.Column("vmax", sa.Double, nullable=False),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
)
