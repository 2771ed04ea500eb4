//! The quarantine: every input that was not accepted, with where it was (file, entry, segment),
//! which field and why — and, sealed under a store key because input holds personal data, the
//! file's path and the raw bytes. Nothing is lost: an operator can list and inspect them.
//!
//! Layout: per intake run, `DIR/quarantine/<run>.jsonl` (one line of metadata per entry; no
//! personal data) and `<run>.sealed` (the paths and raw inputs, AES-256-GCM). Both are written
//! atomically under names derived from the run's inputs, so a re-run of an interrupted intake
//! rewrites them instead of adding copies. Entry ids derive from the unit and the position.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tsunagu_ingest::Rejected;
use tsunagu_vault::Vault;

use crate::{Error, Result};

const PURPOSE: &str = "quarantine";

/// What the operator sees of a quarantined input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Id (`q-` + 20 hex digits).
    pub id: String,
    /// Provider id.
    pub provider: String,
    /// Which intake unit (SHA-256 of the input file).
    pub unit: String,
    /// Format of the input.
    pub format: String,
    /// Where: file number within the run, entry, segment.
    pub position: String,
    /// Which field.
    pub field: String,
    /// Why it was not accepted.
    pub reason: String,
    /// When it was quarantined (UTC).
    pub at: String,
}

/// The quarantine directory of a store.
pub struct Quarantine {
    dir: PathBuf,
}

/// Write a file atomically: a temporary file in the same directory, synced, then renamed, so a
/// crash leaves either no file or the whole file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`], with Unix permissions set on the file before any byte is written (0600 for
/// key files).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    write_atomic_with(path, mode, |file| std::io::Write::write_all(file, bytes))
}

/// [`write_atomic_mode`] of what `write` writes into the temporary file, for output made as it
/// is written instead of held whole first.
pub fn write_atomic_with(
    path: &Path,
    mode: Option<u32>,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(m))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// One rejected input to quarantine.
pub struct Item<'a> {
    /// The unit (SHA-256 of the input file) it came from.
    pub unit: &'a str,
    /// The format of that input.
    pub format: &'a str,
    /// The input file's path (sealed).
    pub path: &'a Path,
    /// The rejection.
    pub rejected: &'a Rejected,
}

#[derive(Serialize, Deserialize)]
struct SealedEntry {
    id: String,
    path: PathBuf,
    raw: Option<Vec<u8>>,
}

fn entry_id(provider: &str, unit: &str, position: &str, field: &str) -> String {
    let mut h = sha2::Sha256::new();
    for p in [provider, unit, position, field] {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    format!("q-{}", &hex::encode(h.finalize())[..20])
}

impl Quarantine {
    /// The quarantine under a store directory.
    pub fn open(store_dir: &Path) -> Result<Self> {
        let dir = store_dir.join("quarantine");
        std::fs::create_dir_all(&dir).map_err(Error::io("quarantine directory"))?;
        Ok(Quarantine { dir })
    }

    /// Quarantine the rejected inputs of one intake run (idempotent for the same run name).
    pub fn put_run(
        &self,
        vault: &Vault,
        provider: &str,
        run: &str,
        items: &[Item<'_>],
    ) -> Result<Vec<Entry>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut entries = Vec::with_capacity(items.len());
        let mut sealed = Vec::with_capacity(items.len());
        for it in items {
            let position = it.rejected.position.to_string();
            let id = entry_id(provider, it.unit, &position, &it.rejected.field);
            entries.push(Entry {
                id: id.clone(),
                provider: provider.to_owned(),
                unit: it.unit.to_owned(),
                format: it.format.to_owned(),
                position,
                field: it.rejected.field.clone(),
                reason: it.rejected.reason.to_string(),
                at: at.clone(),
            });
            sealed.push(SealedEntry {
                id,
                path: it.path.to_path_buf(),
                raw: it.rejected.raw.as_ref().map(|x| x.0.clone()),
            });
        }
        let plain =
            serde_json::to_vec(&sealed).map_err(|e| Error::input("quarantine", e.to_string()))?;
        let blob = vault.seal_blob(PURPOSE, &plain)?;
        write_atomic(&self.dir.join(format!("{run}.sealed")), blob.as_bytes())
            .map_err(Error::io("quarantine"))?;
        let mut lines = Vec::new();
        for e in &entries {
            serde_json::to_writer(&mut lines, e)
                .map_err(|e| Error::input("quarantine", e.to_string()))?;
            lines.push(b'\n');
        }
        write_atomic(&self.dir.join(format!("{run}.jsonl")), &lines)
            .map_err(Error::io("quarantine"))?;
        Ok(entries)
    }

    fn runs(&self) -> Result<Vec<(String, Vec<Entry>)>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(Error::io("quarantine directory"))? {
            let p = e.map_err(Error::io("quarantine directory"))?.path();
            let (Some(stem), Some("jsonl")) = (
                p.file_stem().and_then(|s| s.to_str()),
                p.extension().and_then(|x| x.to_str()),
            ) else {
                continue;
            };
            let text = std::fs::read_to_string(&p).map_err(Error::io("quarantine"))?;
            let entries = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
                .collect();
            out.push((stem.to_owned(), entries));
        }
        Ok(out)
    }

    /// Every entry, oldest first.
    pub fn list(&self) -> Result<Vec<Entry>> {
        let mut all: Vec<Entry> = self.runs()?.into_iter().flat_map(|(_, e)| e).collect();
        all.sort_by(|a, b| (&a.at, &a.id).cmp(&(&b.at, &b.id)));
        Ok(all)
    }

    fn find(&self, id: &str) -> Result<(String, Entry)> {
        if !id.starts_with("q-")
            || id.len() != 22
            || !id[2..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::input(
                "quarantine id",
                "must be q- and 20 hexadecimal digits",
            ));
        }
        for (run, entries) in self.runs()? {
            if let Some(e) = entries.into_iter().find(|e| e.id == id) {
                return Ok((run, e));
            }
        }
        Err(Error::input(
            format!("quarantine entry {id}"),
            "does not exist",
        ))
    }

    /// Take entries out of the quarantine (after a successful re-try): each run's files are
    /// rewritten atomically without them.
    /// Entries in the run named `except` stay (a re-try quarantines what still fails under a new
    /// run first, then removes the old entries, so a crash in between loses nothing).
    pub fn remove(&self, vault: &Vault, ids: &[String], except: Option<&str>) -> Result<usize> {
        let gone: std::collections::BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let mut removed = 0;
        for (run, entries) in self.runs()? {
            if Some(run.as_str()) == except || !entries.iter().any(|e| gone.contains(e.id.as_str()))
            {
                continue;
            }
            let sealed_path = self.dir.join(format!("{run}.sealed"));
            let bytes = std::fs::read(&sealed_path).map_err(Error::io("quarantine"))?;
            let plain = vault.open_blob(PURPOSE, &tsunagu_vault::Sealed::from_bytes(bytes)?)?;
            let all: Vec<SealedEntry> = serde_json::from_slice(&plain)
                .map_err(|_| Error::input("quarantine", "is damaged"))?;
            let keep: Vec<&Entry> = entries
                .iter()
                .filter(|e| !gone.contains(e.id.as_str()))
                .collect();
            removed += entries.len() - keep.len();
            let keep_sealed: Vec<&SealedEntry> = all
                .iter()
                .filter(|e| !gone.contains(e.id.as_str()))
                .collect();
            if keep.is_empty() {
                std::fs::remove_file(self.dir.join(format!("{run}.jsonl")))
                    .map_err(Error::io("quarantine"))?;
                std::fs::remove_file(&sealed_path).map_err(Error::io("quarantine"))?;
                continue;
            }
            let plain = serde_json::to_vec(&keep_sealed)
                .map_err(|e| Error::input("quarantine", e.to_string()))?;
            write_atomic(&sealed_path, vault.seal_blob(PURPOSE, &plain)?.as_bytes())
                .map_err(Error::io("quarantine"))?;
            let mut lines = Vec::new();
            for e in keep {
                serde_json::to_writer(&mut lines, e)
                    .map_err(|e| Error::input("quarantine", e.to_string()))?;
                lines.push(b'\n');
            }
            write_atomic(&self.dir.join(format!("{run}.jsonl")), &lines)
                .map_err(Error::io("quarantine"))?;
        }
        Ok(removed)
    }

    /// One entry's metadata.
    pub fn get(&self, id: &str) -> Result<Entry> {
        Ok(self.find(id)?.1)
    }

    /// Decrypt an entry's path and raw input (the caller audits this read of personal data).
    pub fn reveal(&self, vault: &Vault, id: &str) -> Result<(PathBuf, Option<Vec<u8>>)> {
        let (run, _) = self.find(id)?;
        let bytes = std::fs::read(self.dir.join(format!("{run}.sealed")))
            .map_err(Error::io("quarantine"))?;
        let sealed = tsunagu_vault::Sealed::from_bytes(bytes)?;
        let plain = vault.open_blob(PURPOSE, &sealed)?;
        let all: Vec<SealedEntry> = serde_json::from_slice(&plain)
            .map_err(|_| Error::input(format!("quarantine entry {id}"), "is damaged"))?;
        let e = all
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::input(format!("quarantine entry {id}"), "is damaged"))?;
        Ok((e.path, e.raw))
    }
}
