"""python -m app.migrations.add_publish_tables"""
from app.migrations._db import run

run([
    # pgvector where the server has it (Cloud SQL does; a bare local cluster may not).
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') "
    "THEN CREATE EXTENSION IF NOT EXISTS vector; END IF; END $$",
    "CREATE TABLE IF NOT EXISTS published_documents (id bigserial PRIMARY KEY, source_id text NOT NULL, "
    "published_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS published_chunks (id bigserial PRIMARY KEY, "
    "document_id bigint NOT NULL REFERENCES published_documents (id), content text NOT NULL)",
])
print("publish tables ready")
