//! Intake: `tsunagu ingest`. One run takes a provider's files, and for each person in them asks
//! the Act's eligibility rule at that moment:
//!
//! * eligible → identity to the vault, clinical rows to the lake under the internal id;
//! * not yet eligible (waiting period, no notice yet) → held: rows in the held area of the lake
//!   (encrypted like the lake), identity sealed under the person's own data key, released by
//!   [`Intake::release_held`] once the rule allows;
//! * covered by a stop request → refused: nothing is stored;
//! * unreadable or unattributable input → quarantine (encrypted), with position and reason.
//!
//! Nothing lost, nothing doubled: each input file is a unit known by its SHA-256. Units already
//! taken in are skipped. Every write before the final ledger transaction is idempotent
//! (deterministic internal ids, part names and quarantine ids, vault writes keyed by content), and
//! the ledger records the units together with their reception record in one transaction — so a
//! run killed at any point and run again gives exactly the result of one clean run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::Serialize;
use sha2::Digest;
use tsunagu_ingest::record::SourceFile;
use tsunagu_ingest::{Batch, Position, Reason, Rejected, csv_mapped, fhir, ssmix2};
use tsunagu_lake::{Lake, PartName, PersonId, Table, TableRow};
use tsunagu_ledger::{Actor, ContractState, Ledger, NewReception, Reason as Why};
use tsunagu_model::{ProviderId, StoreKey};
use tsunagu_vault::{InternalId, PatientHash, Vault};

use crate::map::{IdMaker, Rows, group_with, rows_for};
use crate::quarantine::{Item, Quarantine, write_atomic};
use crate::{Error, Result};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// FHIR R4 JSON: Bundles (`.json`) and Bulk Data NDJSON (`.ndjson`).
    Fhir,
    /// An SS-MIX2 standardized storage tree (HL7 v2.5, ISO-2022-JP).
    Ssmix2,
    /// CSV read through a mapping (the Japanese identity layout by default).
    Csv,
}

impl Format {
    /// Parse the CLI name.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "fhir" => Ok(Format::Fhir),
            "ssmix2" => Ok(Format::Ssmix2),
            "csv" => Ok(Format::Csv),
            _ => Err(Error::input("--format", "must be fhir, ssmix2 or csv")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Fhir => "fhir",
            Format::Ssmix2 => "ssmix2",
            Format::Csv => "csv",
        }
    }
}

/// Options of one intake run.
pub struct IntakeOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Mapping for CSV input (default: the Japanese identity layout).
    pub mapping: Option<csv_mapped::Mapping>,
    /// How the provider acquired the data (for the reception record).
    pub acquisition: String,
    /// The moment the eligibility rule is applied (now, normally).
    pub at: DateTime<Utc>,
    /// How many bytes of input are parsed and split at once ([`DEFAULT_CHUNK_BYTES`]). Input
    /// larger than this is taken in chunk by chunk (a patient's SS-MIX2 folder, a Bundle or a
    /// CSV file is never cut; NDJSON files are cut between lines after a first pass has indexed
    /// what their references point at), so memory follows the chunk, not the input.
    pub chunk_bytes: u64,
}

/// Input parsed and split at once by default: 256 MiB.
pub const DEFAULT_CHUNK_BYTES: u64 = 256 << 20;

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntakeSummary {
    /// Input files taken in by this run.
    pub units_new: usize,
    /// Input files skipped because they were taken in before.
    pub units_skipped: usize,
    /// Records (resources, messages, rows) read from the new files.
    pub records_read: u64,
    /// Persons found in the new files.
    pub persons: usize,
    /// Persons whose data was accepted.
    pub accepted_persons: usize,
    /// Persons whose data is held until the rule allows.
    pub held_persons: usize,
    /// Persons refused because of a stop request (nothing stored).
    pub refused_persons: usize,
    /// Rows stored in the lake, per table.
    pub rows_stored: BTreeMap<String, u64>,
    /// Rows held, per table.
    pub rows_held: BTreeMap<String, u64>,
    /// Inputs quarantined.
    pub quarantined: usize,
    /// Records cancelled or deleted at the source (SS-MIX2 condition flag), not stored.
    pub cancelled: u64,
    /// Records of kinds the lake keeps no table for (counted, not stored).
    pub unstored: BTreeMap<String, u64>,
    /// The reception record written, if anything was new.
    pub reception: Option<String>,
}

/// What became of one person-at-provider in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonOutcome {
    Accepted,
    Held,
    Refused,
}

impl IntakeSummary {
    /// Person counts from the outcomes of a run (a person met in several chunks counts once).
    fn count_persons(&mut self, persons: &BTreeMap<String, PersonOutcome>) {
        let n = |o: PersonOutcome| persons.values().filter(|v| **v == o).count();
        self.persons = persons.len();
        self.accepted_persons = n(PersonOutcome::Accepted);
        self.held_persons = n(PersonOutcome::Held);
        self.refused_persons = n(PersonOutcome::Refused);
    }
}

/// What a re-try of quarantined inputs did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetrySummary {
    /// Entries re-tried.
    pub retried: usize,
    /// Entries now accepted (taken out of the quarantine).
    pub resolved: usize,
    /// Entries still rejected (their reasons are updated in place).
    pub still_rejected: usize,
    /// Entries whose input file changed or vanished since (ingest the file again instead).
    pub file_changed: usize,
    /// What the accepted records did.
    pub intake: IntakeSummary,
}

/// A position without its file number (which depends on the run that read the file):
/// `file #7 line 3` → ` line 3`; the whole file → ``.
fn strip_file(s: &str) -> String {
    match s.strip_prefix("file #") {
        Some(rest) => {
            let i = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[i..].to_owned()
        }
        None => s.to_owned(),
    }
}

fn within_file(pos: &Position) -> String {
    strip_file(&pos.to_string())
}

/// What a release of held data did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReleaseSummary {
    /// Persons whose held data moved to the lake.
    pub released_persons: usize,
    /// Persons whose held data was dropped because they asked to stop meanwhile.
    pub refused_persons: usize,
    /// Persons still waiting.
    pub still_held_persons: usize,
    /// Rows moved to the lake, per table.
    pub rows_released: BTreeMap<String, u64>,
}

/// Everything an intake run needs.
pub struct Intake<'a> {
    /// The ledger.
    pub ledger: &'a Ledger,
    /// The identity vault.
    pub vault: &'a Vault,
    /// The clinical lake.
    pub lake: &'a Lake,
    /// The held area (same format and keys as the lake, another directory).
    pub held: &'a Lake,
    /// The store directory (quarantine and held identities live under it).
    pub store_dir: &'a Path,
    /// The store key.
    pub key: &'a StoreKey,
    /// Who runs it.
    pub actor: Actor,
}

struct Unit {
    /// The path as found (inside an input the operator named); may hold personal data.
    path: PathBuf,
    /// Relative to the SS-MIX2 root, for SS-MIX2 files.
    rel: PathBuf,
    /// Depth below the SS-MIX2 root.
    depth: usize,
    bytes: Vec<u8>,
    /// Size in bytes.
    size: u64,
    digest: String,
    format: Format,
    ndjson: bool,
    done: bool,
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, usize)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk(&e.path(), depth + 1, out)?;
        } else if ty.is_file() {
            out.push((e.path(), depth + 1));
        }
    }
    Ok(())
}

fn ext(p: &Path) -> Option<String> {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Find the input files under the paths the operator named, with their formats.
fn discover(paths: &[PathBuf], forced: Option<Format>) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        let meta = std::fs::metadata(p).map_err(|_| Error::input(&shown, "cannot be read"))?;
        let files: Vec<(PathBuf, usize)> = if meta.is_dir() {
            let mut v = Vec::new();
            walk(p, 0, &mut v).map_err(|_| Error::input(&shown, "cannot be read"))?;
            v
        } else {
            vec![(p.clone(), 0)]
        };
        // A directory whose files carry no extension is an SS-MIX2 storage tree.
        let tree = meta.is_dir()
            && (forced == Some(Format::Ssmix2)
                || (forced.is_none()
                    && !files.is_empty()
                    && files.iter().all(|(f, _)| ext(f).is_none())));
        for (f, depth) in files {
            let (format, ndjson) = if tree {
                (Format::Ssmix2, false)
            } else {
                match (forced, ext(&f).as_deref()) {
                    (Some(Format::Fhir) | None, Some("ndjson" | "jsonl")) => (Format::Fhir, true),
                    (Some(Format::Fhir) | None, Some("json")) => (Format::Fhir, false),
                    (Some(Format::Csv) | None, Some("csv" | "txt")) => (Format::Csv, false),
                    (Some(Format::Ssmix2), _) => (Format::Ssmix2, false),
                    (Some(other), _) => (other, false),
                    (None, _) if !meta.is_dir() => {
                        return Err(Error::input(
                            &shown,
                            "cannot tell the format from the name; give --format",
                        ));
                    }
                    // Other files inside a directory of FHIR or CSV files (READMEs…) are skipped.
                    (None, _) => continue,
                }
            };
            let rel = if meta.is_dir() {
                f.strip_prefix(p).unwrap_or(&f).to_path_buf()
            } else {
                PathBuf::new()
            };
            units.push(Unit {
                path: f,
                rel,
                depth,
                bytes: Vec::new(),
                size: 0,
                digest: String::new(),
                format,
                ndjson,
                done: false,
            });
        }
    }
    if units.is_empty() {
        return Err(Error::input("input", "no files found"));
    }
    Ok(units)
}

fn unit_source(units: &[Unit], i: usize) -> Arc<SourceFile> {
    SourceFile::new(
        u32::try_from(i + 1).unwrap_or(u32::MAX),
        units[i].path.clone(),
    )
}

/// First pass over the NDJSON units of input too large to keep: read each a piece at a time,
/// hashing it (its digest and size are set here) and indexing what its references can point at.
fn index_ndjson(units: &mut [Unit], budget: u64) -> Result<fhir::NdjsonIndex> {
    let limits = fhir::Limits::default();
    let unreadable = |_| Error::input("an input file", "cannot be read");
    let mut index = fhir::NdjsonIndex::new();
    for i in 0..units.len() {
        if !units[i].ndjson {
            continue;
        }
        let file = unit_source(units, i);
        let mut pieces = LinePieces::open(&units[i].path, budget).map_err(unreadable)?;
        let mut hash = sha2::Sha256::new();
        while pieces
            .next_hashed(&file, &mut hash, |p| index.add(p, &limits))
            .map_err(unreadable)?
            .is_some()
        {}
        units[i].size = pieces.read;
        units[i].digest = hex::encode(hash.finalize());
    }
    Ok(index)
}

/// Read the units' bytes and digests; `keep` says whether the bytes stay in memory (else only
/// the digest and size are kept, and each chunk reads its files again).
fn read_units(units: &mut [Unit], keep: bool) -> Result<()> {
    units.par_iter_mut().try_for_each(|u| {
        if !u.digest.is_empty() {
            // Hashed already (NDJSON, while being indexed).
            return Ok(());
        }
        let unreadable = |_| Error::input("an input file", "cannot be read");
        if keep {
            let bytes = std::fs::read(&u.path).map_err(unreadable)?;
            u.digest = hex::encode(sha2::Sha256::digest(&bytes));
            u.size = bytes.len() as u64;
            u.bytes = bytes;
        } else {
            // Streamed: a file larger than memory is hashed all the same.
            use std::io::Read;
            let mut h = sha2::Sha256::new();
            let mut f = std::fs::File::open(&u.path).map_err(unreadable)?;
            let mut buf = vec![0u8; 1 << 20];
            u.size = 0;
            loop {
                let n = match f.read(&mut buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    r => r.map_err(unreadable)?,
                };
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                u.size += n as u64;
            }
            u.digest = hex::encode(h.finalize());
        }
        Ok(())
    })
}

/// Reads an NDJSON file a piece of whole lines at a time (about `budget` bytes; a longer line
/// is one piece). The pieces, in order, are the file: the caller hashes them (beside parsing
/// them, on another thread) to check the file is the one that was hashed before.
struct LinePieces {
    file: std::fs::File,
    budget: usize,
    /// Bytes read past the last piece's final newline.
    carry: Vec<u8>,
    /// The number of the next piece's first line.
    line: u64,
    eof: bool,
    /// Bytes read so far.
    read: u64,
}

impl LinePieces {
    fn open(path: &Path, budget: u64) -> std::io::Result<LinePieces> {
        Ok(LinePieces {
            file: std::fs::File::open(path)?,
            budget: usize::try_from(budget).unwrap_or(usize::MAX).max(1),
            carry: Vec::new(),
            line: 1,
            eof: false,
            read: 0,
        })
    }

    /// The next piece handed to `f` as the file's lines, while another thread adds it to `hash`;
    /// `None` at the end of the file.
    fn next_hashed<T: Send>(
        &mut self,
        file: &Arc<SourceFile>,
        hash: &mut sha2::Sha256,
        f: impl FnOnce(&fhir::NdjsonPiece<'_>) -> T + Send,
    ) -> std::io::Result<Option<T>> {
        let Some((bytes, first_line)) = self.next_piece()? else {
            return Ok(None);
        };
        let piece = fhir::NdjsonPiece {
            file: Arc::clone(file),
            bytes: &bytes,
            first_line,
        };
        let ((), out) = rayon::join(|| hash.update(&bytes), || f(&piece));
        Ok(Some(out))
    }

    /// The next piece and the number of its first line; `None` at the end of the file.
    fn next_piece(&mut self) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        use std::io::Read;
        let mut buf = std::mem::take(&mut self.carry);
        loop {
            if buf.len() >= self.budget || self.eof {
                // Cut after the last newline within the budget; with none there, after the
                // first one beyond it; with none at all, read on (or end at the end).
                let within = buf.len().min(self.budget);
                let cut = buf[..within].iter().rposition(|b| *b == b'\n').or_else(|| {
                    buf[within..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map(|p| p + within)
                });
                if let Some(cut) = cut {
                    self.carry = buf.split_off(cut + 1);
                    break;
                }
                if self.eof {
                    break;
                }
            }
            let want = self.budget.saturating_sub(buf.len()).max(64 * 1024);
            let start = buf.len();
            buf.reserve(want);
            // `take` + `read_to_end` fills the spare capacity without zeroing it first
            // (`read_to_end` retries interrupted reads).
            let n = (&mut self.file).take(want as u64).read_to_end(&mut buf)?;
            debug_assert_eq!(buf.len(), start + n);
            self.read += n as u64;
            // `take` stops short of `want` only at the end of the file.
            if n < want {
                self.eof = true;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let first = self.line;
        self.line += bytecount(&buf);
        Ok(Some((buf, first)))
    }
}

fn bytecount(b: &[u8]) -> u64 {
    b.iter().filter(|c| **c == b'\n').count() as u64
}

/// Read the bytes of the units at `which` again for their chunk, checking they are what was
/// hashed (a file changed in between would make the reception record lie).
fn reload_units(units: &mut [Unit], which: &[usize]) -> Result<()> {
    let mut picked: Vec<&mut Unit> = units
        .iter_mut()
        .enumerate()
        .filter(|(i, u)| u.bytes.is_empty() && u.size > 0 && which.binary_search(i).is_ok())
        .map(|(_, u)| u)
        .collect();
    picked.par_iter_mut().try_for_each(|u| {
        let bytes =
            std::fs::read(&u.path).map_err(|_| Error::input("an input file", "cannot be read"))?;
        if hex::encode(sha2::Sha256::digest(&bytes)) != u.digest {
            return Err(Error::input(
                "an input file",
                "changed while it was being taken in; run the ingest again",
            ));
        }
        u.bytes = bytes;
        Ok(())
    })
}

/// Cut the units into chunks of about `budget` bytes, in input order. NDJSON files go together
/// into the first chunk (with those taken in before: their references cross files); an SS-MIX2
/// patient's folder, and any other file, is never cut. Returns ascending unit indices per chunk.
fn plan_chunks(units: &[Unit], budget: u64) -> Vec<Vec<usize>> {
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let ndjson: Vec<usize> = (0..units.len()).filter(|&i| units[i].ndjson).collect();
    if ndjson.iter().any(|&i| !units[i].done) {
        chunks.push(ndjson);
    }
    let key = |u: &Unit| -> PathBuf {
        if u.format == Format::Ssmix2 {
            u.rel.components().take(3).collect()
        } else {
            u.path.clone()
        }
    };
    let (mut cur, mut size, mut last): (Vec<usize>, u64, Option<PathBuf>) = (Vec::new(), 0, None);
    for (i, u) in units.iter().enumerate() {
        if u.ndjson || u.done {
            continue;
        }
        let k = key(u);
        let same_group = last.as_ref() == Some(&k);
        if !same_group && !cur.is_empty() && size + u.size > budget {
            chunks.push(std::mem::take(&mut cur));
            size = 0;
        }
        cur.push(i);
        size += u.size;
        last = Some(k);
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

/// The mapping a CSV file is read with: the operator's, when given; else the built-in one of the
/// `tsunagu synth` layout its header names; else the Japanese identity layout. Rows naming another
/// provider than the sender are refused whichever it is.
fn csv_mapping(
    explicit: Option<&csv_mapped::Mapping>,
    bytes: &[u8],
    provider_code: &str,
) -> csv_mapped::Mapping {
    let m = match explicit {
        Some(m) => m.clone(),
        None => {
            let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            csv_mapped::Mapping::builtin_for_header(first)
                .unwrap_or_else(csv_mapped::Mapping::jp_identity)
        }
    };
    m.for_provider(provider_code)
}

/// Parse the units at `which` (indices into `units`; positions name a unit by its index + 1, so
/// [`unit_of`] finds it in the whole list).
fn parse(
    all: &[Unit],
    which: &[usize],
    mapping: Option<&csv_mapped::Mapping>,
    provider_code: &str,
) -> Batch {
    let units: Vec<&Unit> = which.iter().filter_map(|&i| all.get(i)).collect();
    let sources: Vec<Arc<SourceFile>> = which
        .iter()
        .filter(|&&i| i < all.len())
        .map(|&i| {
            SourceFile::new(
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                all[i].path.clone(),
            )
        })
        .collect();
    // NDJSON files are read together: their references cross files.
    let ndjson: Vec<(Arc<SourceFile>, &[u8])> = units
        .iter()
        .zip(&sources)
        .filter(|(u, _)| u.format == Format::Fhir && u.ndjson)
        .map(|(u, s)| (Arc::clone(s), u.bytes.as_slice()))
        .collect();
    let batch = if ndjson.is_empty() {
        Batch::default()
    } else {
        fhir::read_ndjson(&ndjson, &fhir::Limits::default())
    };
    let mut parts: Vec<Batch> = units
        .par_iter()
        .zip(sources.par_iter())
        .filter(|(u, _)| !(u.format == Format::Fhir && u.ndjson))
        .map(|(u, s)| match u.format {
            Format::Fhir => fhir::read_json(s, &u.bytes, &fhir::Limits::default()),
            Format::Csv => csv_mapped::read(
                s,
                &u.bytes,
                &csv_mapping(mapping, &u.bytes, provider_code),
                &csv_mapped::Limits::default(),
            ),
            Format::Ssmix2 => {
                if u.depth != 6 {
                    Batch {
                        records: Vec::new(),
                        rejected: vec![Rejected::new(
                            Position::file(s),
                            "path",
                            Reason::BadFileName("not at the depth of a standardized-storage file"),
                        )],
                        read: 1,
                    }
                } else {
                    ssmix2::read_file(s, &u.rel, &u.bytes, &ssmix2::Options::default())
                }
            }
        })
        .collect();
    parts.insert(0, batch);
    Batch::concat(parts)
}

/// The journal of a run in progress (`intake/pending/<run>.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    provider: String,
    /// The run's name (32 hexadecimal digits), the prefix of its parts.
    run: String,
    /// One of the run's new units: recorded in the ledger only if the run finished.
    unit: String,
}

/// What one ingest run carries from chunk to chunk.
struct RunState<'a> {
    provider: &'a ProviderId,
    provider_code: &'a str,
    /// The run's name: the digest of its new units' digests.
    run: &'a str,
    at: DateTime<Utc>,
    q: &'a Quarantine,
    summary: &'a mut IntakeSummary,
    /// Each person-at-provider's outcome, counted once however many chunks they appear in.
    persons: BTreeMap<String, PersonOutcome>,
    stored_counts: BTreeMap<String, u64>,
    /// Parts written, in order.
    parts: Vec<String>,
}

fn unit_of<'u>(units: &'u [Unit], pos: &Position) -> Option<&'u Unit> {
    units.get((pos.file.ordinal() as usize).checked_sub(1)?)
}

fn digest_of(parts: &[&str]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Write every non-empty table of `rows` as one part of `lake`.
fn write_rows(lake: &Lake, part: &PartName, rows: &Rows) -> Result<()> {
    fn one<R: TableRow>(lake: &Lake, part: &PartName, rows: &[R]) -> Result<()> {
        if !rows.is_empty() {
            lake.write_rows(part, rows)?;
        }
        Ok(())
    }
    one(lake, part, &rows.persons)?;
    one(lake, part, &rows.encounters)?;
    one(lake, part, &rows.conditions)?;
    one(lake, part, &rows.medications)?;
    one(lake, part, &rows.observations)?;
    one(lake, part, &rows.procedures)?;
    one(lake, part, &rows.checkups)?;
    one(lake, part, &rows.claims)?;
    Ok(())
}

fn read_part_rows(lake: &Lake, part: &PartName) -> Result<Rows> {
    fn one<R: TableRow>(lake: &Lake, part: &PartName) -> Result<Vec<R>> {
        if !lake.parts(R::TABLE)?.contains(part) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for b in lake.read_part(R::TABLE, part)? {
            out.extend(R::from_batch(&b)?);
        }
        Ok(out)
    }
    Ok(Rows {
        persons: one(lake, part)?,
        encounters: one(lake, part)?,
        conditions: one(lake, part)?,
        medications: one(lake, part)?,
        observations: one(lake, part)?,
        procedures: one(lake, part)?,
        checkups: one(lake, part)?,
        claims: one(lake, part)?,
    })
}

/// Make `part` of every table hold exactly `rows`: each table's part is replaced atomically, or
/// removed when it has no rows left.
fn replace_rows(lake: &Lake, part: &PartName, rows: &Rows) -> Result<()> {
    fn one<R: TableRow>(lake: &Lake, part: &PartName, rows: &[R]) -> Result<()> {
        if rows.is_empty() {
            lake.remove_part(R::TABLE, part)?;
        } else {
            lake.write_rows(part, rows)?;
        }
        Ok(())
    }
    one(lake, part, &rows.persons)?;
    one(lake, part, &rows.encounters)?;
    one(lake, part, &rows.conditions)?;
    one(lake, part, &rows.medications)?;
    one(lake, part, &rows.observations)?;
    one(lake, part, &rows.procedures)?;
    one(lake, part, &rows.checkups)?;
    one(lake, part, &rows.claims)?;
    Ok(())
}

/// What a release does with a held person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Fate {
    Release,
    Refuse,
    Keep,
}

impl Intake<'_> {
    fn held_identity_dir(&self) -> PathBuf {
        self.store_dir.join("held").join("identities")
    }

    fn held_identity_file(&self, part: &PartName) -> PathBuf {
        self.held_identity_dir()
            .join(format!("{}.json", part.as_str()))
    }

    /// The sealed identities held under a part: internal id → sealed (hex).
    fn read_held_identities(&self, part: &PartName) -> Result<BTreeMap<String, String>> {
        match std::fs::read(self.held_identity_file(part)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|_| Error::input("held identities", "are damaged")),
            Err(_) => Ok(BTreeMap::new()),
        }
    }

    fn write_held_identities(&self, part: &PartName, m: &BTreeMap<String, String>) -> Result<()> {
        let path = self.held_identity_file(part);
        if m.is_empty() {
            if path.exists() {
                std::fs::remove_file(&path).map_err(Error::io("held identities"))?;
            }
            return Ok(());
        }
        std::fs::create_dir_all(self.held_identity_dir()).map_err(Error::io("held identities"))?;
        let json =
            serde_json::to_vec(m).map_err(|e| Error::input("held identities", e.to_string()))?;
        write_atomic(&path, &json).map_err(Error::io("held identities"))
    }

    /// Take in a provider's files.
    pub async fn ingest(
        &self,
        provider: &ProviderId,
        paths: &[PathBuf],
        opts: IntakeOptions,
    ) -> Result<IntakeSummary> {
        let p = self.ledger.provider(provider).await?;
        if p.filing_ref.is_none() {
            return Err(Error::input(
                format!("provider {provider}"),
                "has no 届出 on record: data from it cannot be received",
            ));
        }
        if matches!(
            p.contract_state,
            ContractState::Suspended | ContractState::Terminated
        ) {
            return Err(Error::input(
                format!("provider {provider}"),
                format!(
                    "its contract is {}: no data is received",
                    p.contract_state.as_str()
                ),
            ));
        }
        // One intake at a time per store: a second would roll back the first one's parts.
        let _lock = self.lock()?;
        self.sweep_temp_files()?;
        self.roll_back_unfinished().await?;
        let mut units = discover(paths, opts.format)?;
        let budget = opts.chunk_bytes.max(1);
        let total: u64 = units
            .iter()
            .map(|u| std::fs::metadata(&u.path).map_or(0, |m| m.len()))
            .sum();
        // Input that fits the budget is read once and kept; larger input is hashed first (the
        // run's name and record ids need every digest) and read again chunk by chunk. NDJSON
        // files of larger input are hashed in the same read that indexes their references.
        let kept = total <= budget;
        let ndjson_index = if kept || !units.iter().any(|u| u.ndjson) {
            None
        } else {
            Some(index_ndjson(&mut units, budget)?)
        };
        read_units(&mut units, kept)?;
        let done = self.ledger.units_done(provider).await?;
        for u in &mut units {
            u.done = done.contains(&u.digest);
        }
        let mut summary = IntakeSummary {
            units_new: units.iter().filter(|u| !u.done).count(),
            units_skipped: units.iter().filter(|u| u.done).count(),
            ..Default::default()
        };
        if summary.units_new == 0 {
            return Ok(summary);
        }
        let new_digests: BTreeSet<String> = units
            .iter()
            .filter(|u| !u.done)
            .map(|u| u.digest.clone())
            .collect();
        let run = digest_of(&new_digests.iter().map(String::as_str).collect::<Vec<_>>());
        let q = Quarantine::open(self.store_dir)?;
        // Before the first part is written: should the run not finish, the next intake removes
        // what it wrote (a re-run of the same input writes it all again; other input, or the
        // same input in other chunks, must not find this run's parts beside its own).
        let journal = self.pending_path(&run);
        let first_unit = new_digests.iter().next().cloned().unwrap_or_default();
        let pending = Pending {
            provider: provider.as_str().to_owned(),
            run: run[..32].to_owned(),
            unit: first_unit,
        };
        std::fs::create_dir_all(self.pending_dir()).map_err(Error::io("intake journal"))?;
        write_atomic(
            &journal,
            &serde_json::to_vec(&pending)
                .map_err(|e| Error::input("intake journal", e.to_string()))?,
        )
        .map_err(Error::io("intake journal"))?;
        let mut run_state = RunState {
            provider,
            provider_code: p.code.as_str(),
            run: &run,
            at: opts.at,
            q: &q,
            summary: &mut summary,
            persons: BTreeMap::new(),
            stored_counts: BTreeMap::new(),
            parts: Vec::new(),
        };
        // Input that was kept in memory is one chunk, NDJSON included; otherwise NDJSON files,
        // indexed above, are taken in a piece at a time.
        for which in plan_chunks(&units, budget) {
            if let Some(index) = &ndjson_index
                && which.iter().any(|&i| units[i].ndjson)
            {
                self.ingest_ndjson_pieces(&mut run_state, &units, &which, index, budget)
                    .await?;
                continue;
            }
            reload_units(&mut units, &which)?;
            let batch = parse(&units, &which, opts.mapping.as_ref(), p.code.as_str());
            // The input's bytes are not needed once parsed (rejections keep their own raw input).
            for &i in &which {
                if let Some(u) = units.get_mut(i) {
                    u.bytes = Vec::new();
                }
            }
            self.take_in(&mut run_state, &units, batch, None).await?;
        }
        // An export's index holds a key per resource: freeing it is work of its own, done beside
        // the ledger's completion rather than before it.
        if let Some(index) = ndjson_index {
            rayon::spawn(move || drop(index));
        }
        let RunState {
            persons,
            stored_counts,
            parts,
            ..
        } = run_state;
        summary.count_persons(&persons);

        let mut counts = stored_counts.clone();
        counts.insert("persons_accepted".into(), summary.accepted_persons as u64);
        let reception = NewReception {
            provider: provider.clone(),
            acquisition: opts.acquisition.clone(),
            received_on: opts.at.with_timezone(&tsunagu_ledger::JST).date_naive(),
            data_items: if stored_counts.is_empty() {
                vec!["(none accepted)".into()]
            } else {
                stored_counts.keys().cloned().collect()
            },
            record_counts: counts,
        };
        let details = serde_json::json!({
            "units": new_digests.len(),
            "formats": units.iter().filter(|u| !u.done).map(|u| u.format.name()).collect::<BTreeSet<_>>(),
            "persons": summary.persons,
            "accepted": summary.accepted_persons,
            "held": summary.held_persons,
            "refused": summary.refused_persons,
            "quarantined": summary.quarantined,
            "part": parts.first(),
            "parts": parts,
        });
        let digests: Vec<String> = new_digests.into_iter().collect();
        summary.reception = Some(
            self.ledger
                .complete_units(&self.actor, &digests, reception, details)
                .await?,
        );
        // Finished: a crash before this line leaves a journal whose run the next intake finds
        // complete (its units are recorded) and only removes.
        std::fs::remove_file(&journal).map_err(Error::io("intake journal"))?;
        Ok(summary)
    }

    fn pending_dir(&self) -> PathBuf {
        self.store_dir.join("intake").join("pending")
    }

    fn pending_path(&self, run: &str) -> PathBuf {
        self.pending_dir().join(format!("{}.json", &run[..32]))
    }

    /// Hold the store's intake lock (released when the file is dropped, or when the process
    /// dies: a killed run leaves no stale lock).
    fn lock(&self) -> Result<std::fs::File> {
        let path = self.store_dir.join("intake.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("intake lock"))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::input(
                "store",
                "another intake is running on this store; run this one when it has finished",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io("intake lock")(e)),
        }
    }

    /// Remove the temporary files of writes a killed process left unfinished (under the intake
    /// lock nothing else writes these directories): Parquet temp files of the lake and the held
    /// area, and atomic-write temp files of held identities, release journals and quarantine.
    fn sweep_temp_files(&self) -> Result<()> {
        let mut dirs = vec![
            self.held_identity_dir(),
            self.store_dir.join("held"),
            self.store_dir.join("quarantine"),
            self.pending_dir(),
        ];
        for area in [self.lake, self.held] {
            dirs.extend(Table::ALL.iter().map(|t| area.table_path(*t)));
        }
        for d in dirs {
            let Ok(files) = std::fs::read_dir(&d) else {
                continue;
            };
            for f in files.filter_map(|e| e.ok()) {
                let name = f.file_name().to_string_lossy().into_owned();
                let temp = name.starts_with(".tmp") || name.ends_with(".parquet.tmp");
                if temp && f.path().is_file() {
                    std::fs::remove_file(f.path()).map_err(Error::io("unfinished write"))?;
                }
            }
        }
        Ok(())
    }

    /// Remove everything an unfinished run wrote — its lake and held parts (and rows released
    /// from them), held identities, release journals and quarantine entries — unless its units
    /// were recorded (it finished and only its journal remained). Audited per run.
    async fn roll_back_unfinished(&self) -> Result<()> {
        let dir = self.pending_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut journals: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        journals.sort();
        for path in journals {
            let pending: Pending = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| Error::input("intake journal", "is damaged"))?;
            let provider = ProviderId::parse(&pending.provider)
                .map_err(|e| Error::input("intake journal", e.to_string()))?;
            let finished = self
                .ledger
                .units_done(&provider)
                .await?
                .contains(&pending.unit);
            let mut removed = 0usize;
            if !finished {
                let prefix = format!("u-{}", pending.run);
                for area in [self.lake, self.held] {
                    for t in Table::ALL {
                        for part in area.parts(t)? {
                            if part.as_str().starts_with(&prefix) {
                                area.remove_part(t, &part)?;
                                removed += 1;
                            }
                        }
                    }
                }
                for d in [
                    self.held_identity_dir(),
                    self.store_dir.join("held"),
                    self.store_dir.join("quarantine"),
                ] {
                    let Ok(files) = std::fs::read_dir(&d) else {
                        continue;
                    };
                    for f in files.filter_map(|e| e.ok()) {
                        let name = f.file_name().to_string_lossy().into_owned();
                        let ours = name.starts_with(&prefix)
                            || name.starts_with(&format!("release-{prefix}"));
                        if ours && f.path().is_file() {
                            std::fs::remove_file(f.path()).map_err(Error::io("unfinished run"))?;
                            removed += 1;
                        }
                    }
                }
                self.ledger
                    .record_event(
                        &self.actor,
                        "intake.rollback",
                        "intake_run",
                        &pending.run,
                        serde_json::json!({ "provider": pending.provider, "files_removed": removed }),
                    )
                    .await?;
            }
            std::fs::remove_file(&path).map_err(Error::io("intake journal"))?;
        }
        Ok(())
    }

    /// Take in the NDJSON files of `which` against their index: the identities (Patient and
    /// Coverage resources) together first, then the not-done files' other lines a piece of
    /// about `budget` bytes at a time, each file checked against its digest once read to the
    /// end.
    async fn ingest_ndjson_pieces(
        &self,
        st: &mut RunState<'_>,
        units: &[Unit],
        which: &[usize],
        index: &fhir::NdjsonIndex,
        budget: u64,
    ) -> Result<()> {
        let limits = fhir::Limits::default();
        let unreadable = |_| Error::input("an input file", "cannot be read");
        // Identities first, whole: a person's Patient and Coverage resources together.
        let identities = index.identities(&limits);
        self.take_in(st, units, identities, Some(index)).await?;
        for &i in which.iter().filter(|&&i| !units[i].done) {
            let file = unit_source(units, i);
            let mut pieces = LinePieces::open(&units[i].path, budget).map_err(unreadable)?;
            let mut hash = sha2::Sha256::new();
            while let Some(batch) = pieces
                .next_hashed(&file, &mut hash, |p| {
                    index.read(std::slice::from_ref(p), &limits)
                })
                .map_err(unreadable)?
            {
                self.take_in(st, units, batch, Some(index)).await?;
            }
            if hex::encode(hash.finalize()) != units[i].digest {
                return Err(Error::input(
                    "an input file",
                    "changed while it was being taken in; run the ingest again",
                ));
            }
        }
        Ok(())
    }

    /// Gate, split and store one chunk's parsed batch as the run's next part; quarantine what
    /// was not accepted.
    async fn take_in(
        &self,
        st: &mut RunState<'_>,
        units: &[Unit],
        mut batch: Batch,
        patients: Option<&fhir::NdjsonIndex>,
    ) -> Result<()> {
        let n = st.parts.len();
        // The first chunk's part keeps the name a one-chunk run has always had.
        let part = if n == 0 {
            PartName::parse(&format!("u-{}", &st.run[..32]))?
        } else {
            PartName::parse(&format!("u-{}-{n}", &st.run[..32]))?
        };
        // Only what the new units hold is taken in (NDJSON references may still have been
        // resolved through files taken in before).
        batch
            .records
            .retain(|r| unit_of(units, &r.position).is_some_and(|u| !u.done));
        batch
            .rejected
            .retain(|r| unit_of(units, &r.position).is_some_and(|u| !u.done));
        st.summary.records_read += (batch.records.len() + batch.rejected.len()) as u64;
        let (stored, rejected) = self
            .split(
                st.provider,
                st.provider_code,
                batch,
                &part,
                st.run,
                st.at,
                st.summary,
                &mut st.persons,
                patients,
            )
            .await?;
        for (k, v) in stored.counts() {
            *st.stored_counts.entry(k).or_default() += v;
        }
        drop(stored);
        let items: Vec<Item<'_>> = rejected
            .iter()
            .filter_map(|r| {
                unit_of(units, &r.position).map(|u| Item {
                    unit: &u.digest,
                    format: u.format.name(),
                    path: &u.path,
                    rejected: r,
                })
            })
            .collect();
        st.q.put_run(self.vault, st.provider.as_str(), part.as_str(), &items)?;
        st.summary.quarantined += items.len();
        st.parts.push(part.as_str().to_owned());
        Ok(())
    }

    /// Re-try quarantined inputs: read each one's file again (it must be unchanged), parse it with
    /// today's parsers (and `mapping`), and take in exactly the records that were quarantined.
    /// Those now accepted leave the quarantine; the rest stay.
    pub async fn retry(
        &self,
        ids: &[String],
        mapping: Option<csv_mapped::Mapping>,
        at: DateTime<Utc>,
    ) -> Result<RetrySummary> {
        let _lock = self.lock()?;
        self.sweep_temp_files()?;
        let q = Quarantine::open(self.store_dir)?;
        let mut groups: BTreeMap<(String, String, String, PathBuf), Vec<crate::quarantine::Entry>> =
            BTreeMap::new();
        for id in ids {
            let e = q.get(id)?;
            let (path, _) = q.reveal(self.vault, id)?;
            groups
                .entry((e.provider.clone(), e.unit.clone(), e.format.clone(), path))
                .or_default()
                .push(e);
        }
        let mut out = RetrySummary {
            retried: ids.len(),
            ..Default::default()
        };
        let mut retried_persons = BTreeMap::new();
        for ((provider, unit, format, path), entries) in groups {
            let provider = ProviderId::parse(&provider)
                .map_err(|e| Error::input("quarantine entry", e.to_string()))?;
            let p = self.ledger.provider(&provider).await?;
            let bytes = match std::fs::read(&path) {
                Ok(b) if hex::encode(sha2::Sha256::digest(&b)) == unit => b,
                _ => {
                    out.file_changed += entries.len();
                    continue;
                }
            };
            let format = Format::parse(&format)?;
            // SS-MIX2 file names are checked against their folders: the last six components.
            let comps: Vec<_> = path.components().collect();
            let rel: PathBuf = comps[comps.len().saturating_sub(6)..].iter().collect();
            let ndjson =
                ext(&path).as_deref() == Some("ndjson") || ext(&path).as_deref() == Some("jsonl");
            let units = vec![Unit {
                path: path.clone(),
                rel,
                depth: 6,
                size: bytes.len() as u64,
                bytes,
                digest: unit.clone(),
                format,
                ndjson,
                done: false,
            }];
            let mut batch = parse(&units, &[0], mapping.as_ref(), p.code.as_str());
            let wanted: BTreeSet<String> =
                entries.iter().map(|e| strip_file(&e.position)).collect();
            // A whole-file rejection (a CSV header the mapping did not fit…) re-tries the file.
            // (Parsers mark a rejection of the whole file with the field `file`.)
            let whole = entries.iter().any(|e| e.field == "file");
            batch
                .records
                .retain(|r| whole || wanted.contains(&within_file(&r.position)));
            batch
                .rejected
                .retain(|r| whole || wanted.contains(&within_file(&r.position)));
            let ids_here: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let run = digest_of(&ids_here);
            let part = PartName::parse(&format!("retry-{}", &run[..32]))?;
            let (stored, rejected) = self
                .split(
                    &provider,
                    p.code.as_str(),
                    batch,
                    &part,
                    &run,
                    at,
                    &mut out.intake,
                    &mut retried_persons,
                    None,
                )
                .await?;
            out.intake.count_persons(&retried_persons);
            let still: BTreeSet<String> =
                rejected.iter().map(|r| within_file(&r.position)).collect();
            let resolved: Vec<String> = entries
                .iter()
                .filter(|e| {
                    if e.field == "file" {
                        !rejected.iter().any(|r| r.field == "file")
                    } else {
                        !still.contains(&strip_file(&e.position))
                    }
                })
                .map(|e| e.id.clone())
                .collect();
            out.still_rejected += entries.len() - resolved.len();
            if !stored.is_empty() {
                let mut counts = stored.counts();
                counts.insert(
                    "persons_accepted".into(),
                    out.intake.accepted_persons as u64,
                );
                let r = self
                    .ledger
                    .add_reception(
                        &self.actor,
                        NewReception {
                            provider: provider.clone(),
                            acquisition: "診療等の過程で取得（検疫からの再処理）".into(),
                            received_on: at.with_timezone(&tsunagu_ledger::JST).date_naive(),
                            data_items: stored.counts().into_keys().collect(),
                            record_counts: counts,
                        },
                    )
                    .await?;
                out.intake.reception = Some(r);
            }
            // What still fails is quarantined again under this re-try's name (with today's
            // reasons), then the old entries go.
            let items: Vec<Item<'_>> = rejected
                .iter()
                .map(|r| Item {
                    unit: &unit,
                    format: format.name(),
                    path: &path,
                    rejected: r,
                })
                .collect();
            q.put_run(self.vault, provider.as_str(), part.as_str(), &items)?;
            let old: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            q.remove(self.vault, &old, Some(part.as_str()))?;
            out.resolved += resolved.len();
            self.ledger
                .record_event(
                    &self.actor,
                    "quarantine.retry",
                    "quarantine",
                    &format!("retry-{}", &run[..16]),
                    serde_json::json!({ "entries": entries.len(), "resolved": resolved.len(), "part": part.as_str() }),
                )
                .await?;
        }
        Ok(out)
    }

    /// Gate and split a parsed batch: identities to the vault, rows to the lake or the held
    /// area under `part`, nothing for persons covered by a stop request. Returns the rows stored
    /// and the rejections (the parser's and the unattributable records).
    #[allow(clippy::too_many_arguments)]
    async fn split(
        &self,
        provider: &ProviderId,
        provider_code: &str,
        batch: Batch,
        part: &PartName,
        run: &str,
        at: DateTime<Utc>,
        summary: &mut IntakeSummary,
        persons: &mut BTreeMap<String, PersonOutcome>,
        patients: Option<&fhir::NdjsonIndex>,
    ) -> Result<(Rows, Vec<Rejected>)> {
        let mut grouped = group_with(batch, provider_code, patients);
        for (k, v) in &grouped.unstored {
            *summary.unstored.entry((*k).to_owned()).or_default() += v;
        }
        let key = |s: &crate::map::Subject| format!("{provider}/{}", s.local.expose());
        let facts = self.ledger.provider_facts(provider).await?;
        let ids = IdMaker::new(self.key);
        let mut stored = Rows::default();
        let mut held = Rows::default();
        // Decide every person first (cheap), then map their records in parallel.
        let mut decided = Vec::with_capacity(grouped.subjects.len());
        for s in grouped.subjects.values_mut() {
            summary.cancelled += s.cancelled;
            let hash = self.ledger.patient_hash(provider, &s.local);
            let ph = PatientHash::parse(&hash)?;
            let decision = facts.decide(&hash, at);
            if let Why::Stopped { .. } = decision.reason {
                persons.insert(key(s), PersonOutcome::Refused);
                continue;
            }
            let internal = self.vault.internal_id(provider, &ph);
            let person = PersonId::parse(internal.as_str())
                .map_err(|why| Error::input("internal id", why))?;
            decided.push((s, ph, internal, person, decision.eligible));
        }
        // Each person's parsed records are dropped as soon as they are mapped: the run's peak
        // memory is then the larger of parsing and writing, not their sum.
        let mut mapped: Vec<Rows> = decided
            .par_iter_mut()
            .map(|(s, _, _, person, _)| {
                let rows = rows_for(&ids, provider, person, s, run);
                s.records = Vec::new();
                rows
            })
            .collect();
        // Identities of eligible persons: one vault transaction for the whole run.
        let batch: Vec<(ProviderId, PatientHash, tsunagu_vault::IdentityPayload)> = decided
            .iter()
            .filter(|d| d.4)
            .filter_map(|(s, ph, ..)| {
                s.identity
                    .clone()
                    .map(|i| (provider.clone(), ph.clone(), i))
            })
            .collect();
        let mut shredded: BTreeSet<String> = BTreeSet::new();
        for (item, result) in batch.iter().zip(self.vault.put_identities(&batch).await?) {
            match result {
                Ok(_) => {}
                // A person whose identity was erased at their request is never stored again.
                Err(e) if e.kind() == tsunagu_vault::ErrorKind::Shredded => {
                    shredded.insert(item.1.as_str().to_owned());
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Subjects (and their data keys) for everyone stored without an identity now: one vault
        // transaction.
        let need: Vec<(ProviderId, PatientHash)> = decided
            .iter()
            .filter(|(s, ph, _, _, eligible)| {
                !shredded.contains(ph.as_str()) && (!*eligible || s.identity.is_none())
            })
            .map(|(_, ph, ..)| (provider.clone(), ph.clone()))
            .collect();
        self.vault.ensure_subjects(&need).await?;
        // Identities of held persons, each sealed under the person's own key (so shredding
        // kills it), kept together in one file per part.
        let mut held_ids: BTreeMap<String, String> = BTreeMap::new();
        for ((s, ph, internal, _, eligible), rows) in decided.iter().zip(mapped.iter_mut()) {
            if shredded.contains(ph.as_str()) {
                persons.insert(key(s), PersonOutcome::Refused);
                continue;
            }
            if *eligible {
                persons.insert(key(s), PersonOutcome::Accepted);
                stored.append(rows);
            } else {
                if let Some(idn) = &s.identity {
                    let json = serde_json::to_vec(idn)
                        .map_err(|e| Error::input("identity", e.to_string()))?;
                    let sealed = self.vault.seal_for(internal, &json).await?;
                    held_ids.insert(internal.as_str().to_owned(), sealed.to_hex());
                }
                persons.insert(key(s), PersonOutcome::Held);
                held.append(rows);
            }
        }
        if !held_ids.is_empty() {
            self.write_held_identities(part, &held_ids)?;
        }
        write_rows(self.lake, part, &stored)?;
        write_rows(self.held, part, &held)?;
        for (k, v) in stored.counts() {
            *summary.rows_stored.entry(k).or_default() += v;
        }
        for (k, v) in held.counts() {
            *summary.rows_held.entry(k).or_default() += v;
        }

        Ok((stored, grouped.rejected))
    }

    /// Move held data whose persons have become eligible into the lake; drop what a stop
    /// request now covers; keep the rest.
    ///
    /// Crash safety: for each held part the decisions are first written to a journal
    /// (`held/release-<part>.json`, atomically); every later step follows the journal and is
    /// idempotent, and the journal is removed last. A re-run after a crash finishes the same
    /// release instead of deciding again (a decision that changed in between would otherwise
    /// move rows twice).
    pub async fn release_held(&self, at: DateTime<Utc>) -> Result<ReleaseSummary> {
        let _lock = self.lock()?;
        self.sweep_temp_files()?;
        // Held parts of a run that never finished are not released: they go first.
        self.roll_back_unfinished().await?;
        let mut parts: BTreeSet<PartName> = BTreeSet::new();
        for t in Table::ALL {
            parts.extend(self.held.parts(t)?);
        }
        let mut summary = ReleaseSummary::default();
        if parts.is_empty() {
            return Ok(summary);
        }
        let subjects: HashMap<String, (ProviderId, PatientHash)> = self
            .vault
            .subjects()
            .await?
            .into_iter()
            .map(|s| {
                (
                    s.internal_id.as_str().to_owned(),
                    (s.provider, s.patient_hash),
                )
            })
            .collect();
        let mut facts: HashMap<ProviderId, tsunagu_ledger::ProviderFacts> = HashMap::new();
        let held_dir = self.store_dir.join("held");
        std::fs::create_dir_all(&held_dir).map_err(Error::io("held directory"))?;
        let (mut released_ids, mut refused_ids, mut kept_ids) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for part in parts {
            let rows = read_part_rows(self.held, &part)?;
            let journal_path = held_dir.join(format!("release-{}.json", part.as_str()));
            let journal: BTreeMap<String, Fate> = match std::fs::read(&journal_path) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|_| Error::input("release journal", "is damaged"))?,
                Err(_) => {
                    let mut j = BTreeMap::new();
                    for id in rows.person_ids() {
                        let fate = match subjects.get(&id) {
                            None => Fate::Keep,
                            Some((prov, ph)) => {
                                if !facts.contains_key(prov) {
                                    facts.insert(
                                        prov.clone(),
                                        self.ledger.provider_facts(prov).await?,
                                    );
                                }
                                match facts.get(prov).map(|f| f.decide(ph.as_str(), at)) {
                                    Some(d) if d.eligible => Fate::Release,
                                    Some(d) if matches!(d.reason, Why::Stopped { .. }) => {
                                        Fate::Refuse
                                    }
                                    _ => Fate::Keep,
                                }
                            }
                        };
                        j.insert(id, fate);
                    }
                    let bytes = serde_json::to_vec(&j)
                        .map_err(|e| Error::input("release journal", e.to_string()))?;
                    write_atomic(&journal_path, &bytes).map_err(Error::io("release journal"))?;
                    j
                }
            };
            let fate = |id: &str| journal.get(id).copied().unwrap_or(Fate::Keep);
            let mut keep = rows;
            let mut out = keep.split_off(&|id| fate(id) == Fate::Keep);
            let _refused = out.split_off(&|id| fate(id) == Fate::Release);
            // The lake part of released rows is named by the held part: one release per part.
            if !out.is_empty() {
                let name = PartName::parse(&format!("{}-released", part.as_str()))?;
                write_rows(self.lake, &name, &out)?;
                for (k, v) in out.counts() {
                    *summary.rows_released.entry(k).or_default() += v;
                }
            }
            let mut held_ids = self.read_held_identities(&part)?;
            for (id, f) in &journal {
                match f {
                    Fate::Release => {
                        released_ids.insert(id.clone());
                        if let (Some(hex), Some((prov, ph))) = (held_ids.get(id), subjects.get(id))
                        {
                            let internal = InternalId::parse(id)?;
                            let sealed = tsunagu_vault::Sealed::from_hex(hex)?;
                            let json = self.vault.open_for(&internal, &sealed).await?;
                            let idn: tsunagu_vault::IdentityPayload = serde_json::from_slice(&json)
                                .map_err(|_| Error::input("held identity", "is damaged"))?;
                            self.vault.put_identity(prov, ph, &idn).await?;
                        }
                    }
                    Fate::Refuse => {
                        refused_ids.insert(id.clone());
                    }
                    Fate::Keep => {
                        kept_ids.insert(id.clone());
                    }
                }
            }
            replace_rows(self.held, &part, &keep)?;
            held_ids.retain(|id, _| journal.get(id).copied().unwrap_or(Fate::Keep) == Fate::Keep);
            self.write_held_identities(&part, &held_ids)?;
            std::fs::remove_file(&journal_path).map_err(Error::io("release journal"))?;
        }
        summary.released_persons = released_ids.len();
        summary.refused_persons = refused_ids.len();
        summary.still_held_persons = kept_ids.len();
        self.ledger
            .record_event(
                &self.actor,
                "intake.release_held",
                "lake",
                "held",
                serde_json::json!({
                    "released": summary.released_persons,
                    "refused": summary.refused_persons,
                    "still_held": summary.still_held_persons,
                    "rows": summary.rows_released,
                }),
            )
            .await?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces are whole lines, numbered as in the file, and together they are the file.
    #[test]
    fn line_pieces_cut_between_lines_and_number_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.ndjson");
        let mut text = String::new();
        for i in 0..2000 {
            // Lines of varied length, one far longer than the budget.
            let pad = if i == 700 { 5000 } else { i % 37 };
            text.push_str(&format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(pad)));
        }
        text.push_str("{\"last\":true}");
        std::fs::write(&path, &text).unwrap();
        for budget in [1u64, 100, 1000, 4096, 1 << 20] {
            let mut p = LinePieces::open(&path, budget).unwrap();
            let mut all = Vec::new();
            let mut line = 1;
            let mut pieces = 0;
            while let Some((bytes, first)) = p.next_piece().unwrap() {
                assert_eq!(first, line, "budget {budget}");
                assert!(bytes.ends_with(b"\n") || bytes.ends_with(b"}"));
                line += bytecount(&bytes);
                all.extend_from_slice(&bytes);
                pieces += 1;
            }
            assert_eq!(all, text.as_bytes(), "budget {budget}");
            assert_eq!(p.read, text.len() as u64);
            if budget <= 1000 {
                assert!(pieces > 10, "budget {budget}: {pieces} pieces");
            }
        }
    }
}
