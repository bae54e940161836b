-- Published RAG metadata synced by dbt (docs/PUBLISHED_RAG_SETUP.md).
CREATE TABLE published_rag_metadata (
    document_id   text PRIMARY KEY,
    title         text NOT NULL,
    published_at  timestamptz NOT NULL,
    source_uri    text
);

CREATE INDEX published_rag_metadata_published_at ON published_rag_metadata (published_at DESC);
