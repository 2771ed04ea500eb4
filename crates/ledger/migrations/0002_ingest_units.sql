-- Units of intake (a file, or an SS-MIX2 storage tree) already taken in, by provider and SHA-256
-- of the content, so that re-ingesting the same input changes nothing. Written in the same
-- transaction as the unit's reception record.
CREATE TABLE ingest_units (
    provider_id TEXT NOT NULL REFERENCES providers (id),
    digest TEXT NOT NULL,
    reception_id TEXT NOT NULL,
    done_at TEXT NOT NULL,
    PRIMARY KEY (provider_id, digest)
);
