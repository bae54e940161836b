CREATE TABLE IF NOT EXISTS ingest_errors (
    id bigserial PRIMARY KEY,
    document_id bigint REFERENCES published_documents (id),
    message text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
