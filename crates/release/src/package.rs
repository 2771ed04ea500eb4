//! The package directory: tables as Parquet and CSV, the data dictionary (Japanese and
//! English), the risk report (JSON and HTML), the effective policy and a manifest with the
//! SHA-256 of every file. The release digest is the SHA-256 of `manifest.json`'s bytes, so it
//! pins every file; [`verify_package`] recomputes it and fails on any change, missing or extra
//! file.
//!
//! The package is built in `DIR.tmp-<release id>` and renamed to `DIR` only when complete, so a
//! crash never leaves a half-written package under the final name. An existing non-empty `DIR`
//! is refused (a release is never overwritten).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{ColumnRole, OutTable, Released, Values};
use crate::error::ReleaseError;
use crate::report::Report;

/// The name of the manifest file.
pub const MANIFEST: &str = "manifest.json";

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name (no directories).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format tag.
    pub format: String,
    /// Release id.
    pub release_id: String,
    /// Extract id.
    pub extract_id: String,
    /// When the package was built (RFC 3339).
    pub created_at: String,
    /// Policy name.
    pub policy: String,
    /// `anonymized` or `pseudonymized`.
    pub mode: String,
    /// Whether the gate passed.
    pub passed: bool,
    /// Persons released.
    pub persons: u64,
    /// Rows per released table.
    pub rows: BTreeMap<String, u64>,
    /// Every file but the manifest, by name.
    pub files: Vec<ManifestFile>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |source| ReleaseError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The table as one Arrow batch (text as Utf8, numbers as Float64/Int64, flags as Boolean).
pub fn to_batch(t: &OutTable) -> Result<RecordBatch, ReleaseError> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for c in &t.columns {
        let (dt, a): (DataType, ArrayRef) = match &c.values {
            Values::Text(v) => (
                DataType::Utf8,
                Arc::new(v.iter().map(|x| x.as_deref()).collect::<StringArray>()),
            ),
            Values::Float(v) => (
                DataType::Float64,
                Arc::new(v.iter().copied().collect::<Float64Array>()),
            ),
            Values::Int(v) => (
                DataType::Int64,
                Arc::new(v.iter().copied().collect::<Int64Array>()),
            ),
            Values::Bool(v) => (
                DataType::Boolean,
                Arc::new(v.iter().copied().collect::<BooleanArray>()),
            ),
        };
        fields.push(Field::new(&c.name, dt, true));
        arrays.push(a);
    }
    let schema = Arc::new(Schema::new(fields));
    if arrays.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    RecordBatch::try_new(schema, arrays)
        .map_err(|e| ReleaseError::Internal(format!("table {}: {e}", t.name)))
}

/// Plain (unencrypted) Parquet: the package is the deliverable.
pub fn parquet_bytes(t: &OutTable) -> Result<Vec<u8>, ReleaseError> {
    let batch = to_batch(t)?;
    let level = ZstdLevel::try_new(3).map_err(|e| ReleaseError::Internal(e.to_string()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))
        .map_err(|e| ReleaseError::Internal(format!("table {}: parquet: {e}", t.name)))?;
    w.write(&batch)
        .map_err(|e| ReleaseError::Internal(format!("table {}: parquet: {e}", t.name)))?;
    w.close()
        .map_err(|e| ReleaseError::Internal(format!("table {}: parquet: {e}", t.name)))?;
    Ok(buf)
}

/// CSV (UTF-8, header row, empty cell for null).
pub fn csv_bytes(t: &OutTable) -> Result<Vec<u8>, ReleaseError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReleaseError::Internal(format!("table {}: csv: {e}", t.name));
    w.write_record(t.columns.iter().map(|c| c.name.as_str()))
        .map_err(csv_err)?;
    for r in 0..t.rows() {
        w.write_record(
            t.columns
                .iter()
                .map(|c| c.values.text(r).unwrap_or_default()),
        )
        .map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| ReleaseError::Internal(format!("table {}: csv: {e}", t.name)))
}

fn type_name(v: &Values) -> &'static str {
    match v {
        Values::Text(_) => "text",
        Values::Float(_) => "float",
        Values::Int(_) => "integer",
        Values::Bool(_) => "boolean",
    }
}

fn role_name(r: ColumnRole) -> &'static str {
    match r {
        ColumnRole::Pseudonym => "pseudonym",
        ColumnRole::QuasiIdentifier => "quasi_identifier",
        ColumnRole::Code => "code",
        ColumnRole::Date => "date",
        ColumnRole::Measure => "measure",
        ColumnRole::Attribute => "attribute",
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `dictionary.md` and `dictionary.csv`.
pub fn dictionary(released: &Released, report: &Report) -> Result<(String, Vec<u8>), ReleaseError> {
    let detail = |t: &str, c: &str| {
        report
            .transformations
            .iter()
            .find(|n| n.table == t && n.column == c)
            .map(|n| (n.action.clone(), n.detail.clone()))
            .unwrap_or_default()
    };
    let mut md = String::new();
    md.push_str(&format!(
        "# データ辞書 / Data dictionary\n\n提供ID / Release: `{}` — 抽出ID / Extract: `{}` — ポリシー / Policy: `{}` ({})\n\n",
        report.release_id, report.extract_id, report.policy, report.mode
    ));
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ReleaseError::Internal(format!("dictionary: {e}"));
    w.write_record([
        "table",
        "column",
        "type",
        "role",
        "description_ja",
        "description_en",
        "action",
        "detail",
    ])
    .map_err(csv_err)?;
    for t in &released.tables {
        md.push_str(&format!(
            "## {} ({} 行 / rows)\n\n| 列 / column | 型 / type | 説明 | description | 処理 / action |\n|---|---|---|---|---|\n",
            t.name,
            t.rows()
        ));
        for c in &t.columns {
            let (action, det) = detail(&t.name, &c.name);
            md.push_str(&format!(
                "| `{}` | {} | {} | {} | {}: {} |\n",
                c.name,
                type_name(&c.values),
                md_cell(&c.description_ja),
                md_cell(&c.description_en),
                action,
                md_cell(&det)
            ));
            w.write_record([
                t.name.as_str(),
                c.name.as_str(),
                type_name(&c.values),
                role_name(c.role),
                &c.description_ja,
                &c.description_en,
                &action,
                &det,
            ])
            .map_err(csv_err)?;
        }
        md.push('\n');
    }
    let dropped: Vec<String> = report
        .transformations
        .iter()
        .filter(|n| n.action == "drop")
        .map(|n| format!("`{}.{}`", n.table, n.column))
        .collect();
    if !dropped.is_empty() {
        md.push_str("## 提供しない列 / Columns not released\n\n");
        md.push_str(&dropped.join(", "));
        md.push('\n');
    }
    let csv = w
        .into_inner()
        .map_err(|e| ReleaseError::Internal(format!("dictionary: {e}")))?;
    Ok((md, csv))
}

/// What goes into a package.
pub struct PackageInput<'a> {
    /// The released tables.
    pub released: &'a Released,
    /// The report.
    pub report: &'a Report,
    /// The effective policy as TOML.
    pub policy_toml: &'a str,
    /// The report as HTML.
    pub report_html: &'a str,
}

/// Write the package to `dir` atomically; returns the release digest.
pub fn write_package(dir: &Path, input: &PackageInput<'_>) -> Result<String, ReleaseError> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(io(dir))?;
        if entries.next().is_some() {
            return Err(ReleaseError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the package directory exists and is not empty; a release is never overwritten",
                ),
            });
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| ReleaseError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the package directory needs a name",
            ),
        })?;
    let safe_id: String = input
        .report
        .release_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tmp: PathBuf = dir.with_file_name(format!("{name}.tmp-{safe_id}"));
    if tmp.exists() {
        // A leftover of an interrupted build of this same release.
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for t in &input.released.tables {
        files.push((format!("{}.parquet", t.name), parquet_bytes(t)?));
        files.push((format!("{}.csv", t.name), csv_bytes(t)?));
    }
    let (md, dcsv) = dictionary(input.released, input.report)?;
    files.push(("dictionary.md".into(), md.into_bytes()));
    files.push(("dictionary.csv".into(), dcsv));
    let json = serde_json::to_vec_pretty(input.report)
        .map_err(|e| ReleaseError::Internal(format!("report: {e}")))?;
    files.push(("risk-report.json".into(), json));
    files.push((
        "risk-report.html".into(),
        input.report_html.as_bytes().to_vec(),
    ));
    files.push(("policy.toml".into(), input.policy_toml.as_bytes().to_vec()));
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut listed = Vec::new();
    for (fname, bytes) in &files {
        write_file(&tmp.join(fname), bytes)?;
        listed.push(ManifestFile {
            name: fname.clone(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
        });
    }
    let manifest = Manifest {
        format: "tsunagu-release/1".into(),
        release_id: input.report.release_id.clone(),
        extract_id: input.report.extract_id.clone(),
        created_at: input.report.created_at.clone(),
        policy: input.report.policy.clone(),
        mode: input.report.mode.clone(),
        passed: input.report.passed,
        persons: input.report.persons,
        rows: input.report.rows.clone(),
        files: listed,
    };
    let mbytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| ReleaseError::Internal(format!("manifest: {e}")))?;
    write_file(&tmp.join(MANIFEST), &mbytes)?;
    if dir.exists() {
        fs::remove_dir(dir).map_err(io(dir))?;
    }
    fs::rename(&tmp, dir).map_err(io(dir))?;
    Ok(sha256_hex(&mbytes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    let mut f = fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn tampered(path: &Path, why: impl Into<String>) -> ReleaseError {
    ReleaseError::Tampered {
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Re-hash every file of a package against its manifest; returns the release digest (SHA-256 of
/// `manifest.json`). Fails with [`ReleaseError::Tampered`] on a changed, missing or extra file.
pub fn verify_package(dir: &Path) -> Result<String, ReleaseError> {
    let mpath = dir.join(MANIFEST);
    let mbytes = fs::read(&mpath).map_err(|_| tampered(&mpath, "manifest.json missing"))?;
    let manifest: Manifest = serde_json::from_slice(&mbytes)
        .map_err(|_| tampered(&mpath, "manifest.json is not a valid manifest"))?;
    let mut present: BTreeMap<String, PathBuf> = BTreeMap::new();
    for e in fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            continue;
        }
        let ft = e.file_type().map_err(io(&e.path()))?;
        if !ft.is_file() {
            return Err(tampered(&e.path(), "not a regular file"));
        }
        present.insert(name, e.path());
    }
    for f in &manifest.files {
        let Some(path) = present.remove(&f.name) else {
            return Err(tampered(
                &dir.join(&f.name),
                "file listed in the manifest is missing",
            ));
        };
        let bytes = fs::read(&path).map_err(io(&path))?;
        if bytes.len() as u64 != f.bytes || sha256_hex(&bytes) != f.sha256 {
            return Err(tampered(&path, "content differs from the manifest"));
        }
    }
    if let Some((_, path)) = present.into_iter().next() {
        return Err(tampered(&path, "file not listed in the manifest"));
    }
    Ok(sha256_hex(&mbytes))
}
