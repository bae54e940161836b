"""Alembic environment: the database URL comes from DATABASE_URL, which
Preflight sets for the run (never written into alembic.ini)."""
import os

from alembic import context
from sqlalchemy import create_engine

url = os.environ.get("DATABASE_URL", "postgresql://localhost/offline")
url = url.replace("postgres://", "postgresql+psycopg2://", 1).replace("postgresql://", "postgresql+psycopg2://", 1)

if context.is_offline_mode():
    context.configure(url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
