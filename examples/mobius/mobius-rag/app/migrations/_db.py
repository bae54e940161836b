"""Shared connection helper for the RAG migration scripts."""
import os

import psycopg2


def connect():
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)
    return psycopg2.connect(url)


def run(statements):
    """Runs the statements in one transaction; safe to re-run (IF NOT EXISTS)."""
    with connect() as conn, conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
