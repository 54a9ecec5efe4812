"""one history again: energy (0002) and site links (0003) both branched from the first revision

Revision ID: 0004_merge_heads
Revises: 0002_energy, 0003_sites
"""

from __future__ import annotations

revision = "0004_merge_heads"
down_revision = ("0002_energy", "0003_sites")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
