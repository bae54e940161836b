"""python -m app.migrations.add_extracted_facts_verification"""
from app.migrations._db import run

run([
    "CREATE TABLE IF NOT EXISTS extracted_facts (id bigserial PRIMARY KEY, "
    "chunk_id bigint REFERENCES published_chunks (id), fact text NOT NULL)",
    "ALTER TABLE extracted_facts ADD COLUMN IF NOT EXISTS verified_at timestamptz",
])
print("extracted facts verification ready")
