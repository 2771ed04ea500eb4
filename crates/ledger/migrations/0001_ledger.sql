-- The Act's ledger. Portable SQL: it runs unchanged on SQLite and PostgreSQL through sqlx's Any
-- driver, which carries only integers, floats, text and bytes. Hence: TEXT ids, times as RFC 3339
-- UTC text with a fixed width (so they compare as text), dates as YYYY-MM-DD, BIGINT for counts,
-- JSON kept as TEXT, no SERIAL/AUTOINCREMENT, no BOOLEAN, no BYTEA/BLOB.
--
-- Personal data never enters this database: a provider's local patient id is stored only as a
-- keyed hash (HMAC-SHA256 with a key kept outside the database), receipts only as SHA-256 hashes.

-- Internal values (the store key's check value). Not audited: a wrong value only locks users out.
CREATE TABLE store_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The store's rules (waiting period, retention, the producer's contact points). Audited.
CREATE TABLE settings (
    id TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    representative TEXT NOT NULL,
    filing_date TEXT,
    filing_ref TEXT,
    contract_state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL,
    UNIQUE (kind, code)
);

-- One notice (通知) per person at a provider.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    patient_hash TEXT NOT NULL,
    notice_date TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL,
    UNIQUE (provider_id, patient_hash)
);

-- Stop requests (提供停止の求め). Append-only.
CREATE TABLE stop_requests (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    patient_hash TEXT NOT NULL,
    requester TEXT NOT NULL,
    relationship TEXT,
    received_at TEXT NOT NULL,
    received_via TEXT NOT NULL,
    receipt_hash TEXT NOT NULL UNIQUE,
    recorded_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);
CREATE INDEX stop_requests_person ON stop_requests (provider_id, patient_hash);

-- Reception records (受領記録). Append-only; deleted only after the retention period.
CREATE TABLE reception_records (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    provider_name TEXT NOT NULL,
    provider_address TEXT NOT NULL,
    representative TEXT NOT NULL,
    filing_ref TEXT NOT NULL,
    acquisition TEXT NOT NULL,
    received_on TEXT NOT NULL,
    data_items TEXT NOT NULL,
    record_counts TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);

-- Provision records (提供記録). Append-only; deleted only after the retention period.
CREATE TABLE provision_records (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    provided_on TEXT NOT NULL,
    request_ref TEXT NOT NULL,
    approval_ref TEXT NOT NULL,
    data_items TEXT NOT NULL,
    record_counts TEXT NOT NULL,
    policy TEXT NOT NULL,
    package_digest TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);

-- The audit chain: hash[n] = SHA-256(hash[n-1] | fields of n). The head row carries an HMAC seal
-- over (seq, hash) with a key kept outside the database, so that truncating the chain or
-- rewriting it wholesale is caught as well.
CREATE TABLE audit_events (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    seal TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash, seal) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', '');
