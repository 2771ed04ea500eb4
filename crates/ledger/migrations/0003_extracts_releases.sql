-- Cohort extracts and releases, with who was in each: the producer's own accountability records
-- (nothing of the membership goes into a package). All append-only and vouched for by the audit
-- chain; counts and verdicts are JSON text so that every audited column is text.
CREATE TABLE extracts (
    id TEXT PRIMARY KEY,
    cohort_sha256 TEXT NOT NULL,
    as_of TEXT NOT NULL,
    counts TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);

-- Each person-at-provider (the vault's internal id) in an extract, with the linked person id the
-- extract shows for them.
CREATE TABLE extract_members (
    extract_id TEXT NOT NULL REFERENCES extracts (id),
    subject_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    audit_seq BIGINT NOT NULL,
    PRIMARY KEY (extract_id, subject_id)
);
CREATE INDEX extract_members_subject ON extract_members (subject_id);

CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    extract_id TEXT NOT NULL REFERENCES extracts (id),
    policy TEXT NOT NULL,
    recipient TEXT NOT NULL,
    request_ref TEXT NOT NULL,
    package_digest TEXT NOT NULL,
    passed TEXT NOT NULL,
    summary TEXT NOT NULL,
    built_by TEXT NOT NULL,
    built_at TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);

-- The extract's linked persons that a release includes.
CREATE TABLE release_members (
    release_id TEXT NOT NULL REFERENCES releases (id),
    person_id TEXT NOT NULL,
    audit_seq BIGINT NOT NULL,
    PRIMARY KEY (release_id, person_id)
);

-- The second person's approval, written with the provision record in one transaction.
CREATE TABLE release_approvals (
    release_id TEXT PRIMARY KEY REFERENCES releases (id),
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    provision_id TEXT NOT NULL,
    audit_seq BIGINT NOT NULL
);
