"""add publish state to documents

Revision ID: c4d5e6f7a8b9
Revises: a1b2c3d4e5f6
Create Date: 2026-02-05 09:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = "c4d5e6f7a8b9"
down_revision: Union[str, None] = "a1b2c3d4e5f6"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("ALTER TABLE documents ADD COLUMN published_at timestamptz")
    op.execute("CREATE INDEX documents_published_at ON documents (published_at)")


def downgrade() -> None:
    op.execute("DROP INDEX documents_published_at")
    op.execute("ALTER TABLE documents DROP COLUMN published_at")
