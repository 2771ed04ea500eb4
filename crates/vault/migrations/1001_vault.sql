-- The identity vault. It shares the ledger's database and its `_sqlx_migrations` table, so its
-- migrations are numbered from 1001 and both migrators ignore each other's versions.
--
-- Portable SQL (SQLite and PostgreSQL through sqlx's Any driver): TEXT and BIGINT only; bytes
-- as lowercase hex; instants as fixed-width RFC 3339 UTC text.
--
-- No column holds an identifier of a person in the clear: people are filed under the ledger's
-- keyed patient hash and our internal id; everything else is sealed with AES-256-GCM.

-- The store key's check value (an HKDF output, not the key).
CREATE TABLE vault_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per person-at-provider. `wrapped_dek` is the subject's data key sealed under the
-- key-encryption key; NULL once shredded (then `shredded_at` is set). A shredded row stays as a
-- tombstone so that the subject cannot quietly come back.
CREATE TABLE vault_subjects (
    internal_id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    patient_hash TEXT NOT NULL,
    wrapped_dek TEXT,
    created_at TEXT NOT NULL,
    shredded_at TEXT,
    UNIQUE (provider_id, patient_hash)
);

-- Identity versions, append-only. `sealed` is the JSON payload sealed under the subject's data
-- key with (internal id, version) as associated data; `content_digest` is an HMAC of the same
-- JSON under a key derived from the data key, so that shredding also makes it meaningless.
CREATE TABLE vault_identities (
    internal_id TEXT NOT NULL REFERENCES vault_subjects (internal_id),
    version BIGINT NOT NULL,
    sealed TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (internal_id, version)
);
