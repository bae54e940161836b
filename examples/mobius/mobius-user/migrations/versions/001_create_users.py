"""create users

Revision ID: 001
Revises:
"""
from alembic import op

revision = "001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, "
        "created_at timestamptz NOT NULL DEFAULT now())"
    )


def downgrade():
    op.execute("DROP TABLE users")
