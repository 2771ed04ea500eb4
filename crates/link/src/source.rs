//! Identity files (CSV): column roles detected from well-known headers (FEBRL's and the
//! Japanese layout) or given by a mapping file, rows read into [`RawRecord`]s.
//!
//! A mapping file (TOML) names the column of each role:
//!
//! ```toml
//! [columns]
//! id = "患者番号"
//! family_name = "氏名（姓）"
//! birth_date = "生年月日"
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::record::{Encoder, Identity, RawRecord, TokenCache, TokenTable};
use crate::schema::Role;

/// Why an identity file could not be read. Names the file, row and column, never a value.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row is not valid CSV (or not UTF-8).
    #[error("{file}: row {row}: {why}")]
    Row {
        /// The file.
        file: PathBuf,
        /// 1-based data row (header = row 0).
        row: u64,
        /// What is wrong.
        why: String,
    },
    /// The header does not say where the id (or any comparable field) is.
    #[error("{file}: {why}")]
    Header {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The mapping file is invalid.
    #[error("{file}: mapping: {why}")]
    Mapping {
        /// The mapping file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Role → column header, from a mapping file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    columns: BTreeMap<Role, String>,
}

#[derive(Deserialize)]
struct MappingFile {
    columns: BTreeMap<String, String>,
}

impl Mapping {
    /// Parse a mapping file's text.
    pub fn parse(text: &str, file: &Path) -> Result<Mapping, SourceError> {
        let err = |why: String| SourceError::Mapping {
            file: file.to_owned(),
            why,
        };
        let m: MappingFile = toml::from_str(text)
            .map_err(|e| err(format!("not a valid mapping ({})", e.message())))?;
        let mut columns = BTreeMap::new();
        for (role, header) in m.columns {
            let r = Role::from_name(&role).ok_or_else(|| {
                err(format!(
                    "unknown role `{role}`; roles are {}",
                    Role::ALL
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            columns.insert(r, header);
        }
        Ok(Mapping { columns })
    }

    /// Read and parse a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|source| SourceError::Io {
            file: path.to_owned(),
            source,
        })?;
        Mapping::parse(&text, path)
    }
}

fn header_key(h: &str) -> String {
    h.trim_start_matches('\u{FEFF}')
        .nfkc()
        .collect::<String>()
        .trim()
        .to_lowercase()
        .replace([' ', '-'], "_")
}

/// The role of a well-known header, if any.
pub fn detect_role(header: &str) -> Option<Role> {
    let k = header_key(header);
    Some(match k.as_str() {
        "id" | "rec_id" | "record_id" | "patient_id" | "患者id" | "患者番号" | "識別子" => {
            Role::Id
        }
        "family_name" | "surname" | "last_name" | "lastname" | "姓" | "氏" | "氏名(姓)" => {
            Role::FamilyName
        }
        "given_name" | "first_name" | "firstname" | "名" | "氏名(名)" => Role::GivenName,
        "family_name_kana" | "surname_kana" | "セイ" | "姓カナ" | "姓(カナ)" | "カナ姓" => {
            Role::FamilyNameKana
        }
        "given_name_kana" | "first_name_kana" | "メイ" | "名カナ" | "名(カナ)" | "カナ名" => {
            Role::GivenNameKana
        }
        "birth_date" | "date_of_birth" | "dob" | "birthdate" | "birthday" | "生年月日" => {
            Role::BirthDate
        }
        "sex" | "gender" | "性別" => Role::Sex,
        "postal_code" | "postcode" | "zip" | "zipcode" | "zip_code" | "郵便番号" => {
            Role::PostalCode
        }
        "address" | "住所" => Role::Address,
        "street_number" => Role::StreetNumber,
        "address_1" | "address1" => Role::Address1,
        "address_2" | "address2" => Role::Address2,
        "suburb" | "city" | "locality" => Role::Suburb,
        "state" => Role::State,
        "phone" | "phone_number" | "tel" | "telephone" | "電話番号" => Role::Phone,
        "insurer_number" | "保険者番号" => Role::InsurerNumber,
        "insured_symbol" | "記号" | "被保険者証記号" => Role::InsuredSymbol,
        "insured_number" | "被保険者番号" | "被保険者証番号" => Role::InsuredNumber,
        "insured_branch" | "枝番" => Role::InsuredBranch,
        "soc_sec_id" | "national_id" | "ssn" => Role::NationalId,
        _ => return None,
    })
}

/// An identity file read into memory. Holds plaintext: lives on the vault side.
#[derive(Debug, Default)]
pub struct Source {
    /// Record ids, in file order.
    pub ids: Vec<String>,
    /// Records, in file order.
    pub records: Vec<RawRecord>,
    /// Roles found in the header.
    pub roles: Vec<Role>,
}

/// Read an identity CSV (UTF-8, with or without BOM; comma-separated; one header row).
pub fn read_csv(path: &Path, mapping: Option<&Mapping>) -> Result<Source, SourceError> {
    let file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        file: path.to_owned(),
        source,
    })?;
    read_csv_from(file, path, mapping)
}

/// Where each role's column is, from the header (or the mapping).
fn layout<R: std::io::Read>(
    rdr: &mut csv::Reader<R>,
    path: &Path,
    mapping: Option<&Mapping>,
) -> Result<Vec<(Role, usize)>, SourceError> {
    let headers = rdr
        .headers()
        .map_err(|e| SourceError::Header {
            file: path.to_owned(),
            why: format!("cannot read the header ({})", csv_why(&e)),
        })?
        .clone();
    let mut columns: HashMap<Role, usize> = HashMap::new();
    match mapping {
        Some(m) => {
            for (role, header) in &m.columns {
                let idx = headers
                    .iter()
                    .position(|h| header_key(h) == header_key(header))
                    .ok_or_else(|| SourceError::Header {
                        file: path.to_owned(),
                        why: format!("mapped column for {} not in the header", role.name()),
                    })?;
                columns.insert(*role, idx);
            }
        }
        None => {
            for (i, h) in headers.iter().enumerate() {
                if let Some(r) = detect_role(h) {
                    columns.entry(r).or_insert(i);
                }
            }
        }
    }
    if !columns.contains_key(&Role::Id) {
        return Err(SourceError::Header {
            file: path.to_owned(),
            why: "no id column (expected a header such as id or rec_id, or a mapping file)".into(),
        });
    }
    if columns.len() < 2 {
        return Err(SourceError::Header {
            file: path.to_owned(),
            why: "no identity column recognised (use a mapping file to name them)".into(),
        });
    }
    let mut roles: Vec<(Role, usize)> = columns.into_iter().collect();
    roles.sort();
    Ok(roles)
}

/// Read the next row into `raw` (its id into `id`); `Ok(false)` at the end of the file.
fn next_row<R: std::io::Read>(
    rdr: &mut csv::Reader<R>,
    rec: &mut csv::ByteRecord,
    roles: &[(Role, usize)],
    path: &Path,
    row: u64,
    id: &mut String,
    raw: &mut RawRecord,
) -> Result<bool, SourceError> {
    match rdr.read_byte_record(rec) {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(e) => {
            return Err(SourceError::Row {
                file: path.to_owned(),
                row,
                why: csv_why(&e),
            });
        }
    }
    // The row's fields lie back to back in one buffer: checked as UTF-8 once, with SIMD
    // (`simdutf8`; std's check, which `StringRecord` runs, took 3 % of reading Japanese
    // text), then each field is a slice of it. Fields end at ASCII delimiters, so a slice at
    // their bounds falls on character boundaries.
    let whole = simdutf8::basic::from_utf8(rec.as_slice()).map_err(|_| SourceError::Row {
        file: path.to_owned(),
        row,
        why: "not valid UTF-8".into(),
    })?;
    for &(role, idx) in roles {
        let v = rec.range(idx).and_then(|r| whole.get(r)).unwrap_or("");
        if role == Role::Id {
            let v = v.trim();
            if v.is_empty() {
                return Err(SourceError::Row {
                    file: path.to_owned(),
                    row,
                    why: "empty id".into(),
                });
            }
            id.clear();
            id.push_str(v);
        } else {
            raw.set_str(role, v.trim());
        }
    }
    Ok(true)
}

/// Read identity CSV from any reader (`path` is used in messages only).
pub fn read_csv_from(
    reader: impl std::io::Read,
    path: &Path,
    mapping: Option<&Mapping>,
) -> Result<Source, SourceError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let roles = layout(&mut rdr, path, mapping)?;
    let mut out = Source {
        roles: roles.iter().map(|r| r.0).collect(),
        ..Source::default()
    };
    let mut rec = csv::ByteRecord::new();
    let mut id = String::new();
    let mut row = 0u64;
    loop {
        row += 1;
        let mut raw = RawRecord::default();
        if !next_row(&mut rdr, &mut rec, &roles, path, row, &mut id, &mut raw)? {
            break;
        }
        out.ids.push(id.clone());
        out.records.push(raw);
    }
    Ok(out)
}

/// The roles an identity file's header (or the mapping) gives, without reading the rows.
pub fn read_roles(path: &Path, mapping: Option<&Mapping>) -> Result<Vec<Role>, SourceError> {
    let file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        file: path.to_owned(),
        source,
    })?;
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    Ok(layout(&mut rdr, path, mapping)?
        .into_iter()
        .map(|r| r.0)
        .collect())
}

/// Record ids of a file, in file order, front-coded in one buffer: each id is stored as the
/// length of the prefix it shares with the id before it and the rest, and every 16th id whole
/// so that any id is at most 15 steps from one. Ids of one file usually share most of their
/// characters with their neighbours (`L0000001`, `L0000002`; `PAT-2024-00017`): a 100,000-row
/// file's ids then take about 4 bytes each instead of their length plus a 4-byte offset, and
/// the ids are, after the tokens, what a linkage holds most of while it runs.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    /// Per id: shared prefix length and suffix length (LEB128), then the suffix.
    bytes: Vec<u8>,
    /// Where every 16th id starts in `bytes`.
    restarts: Vec<u32>,
    /// The last id pushed (to find the next one's shared prefix).
    last: String,
    len: usize,
}

/// Ids between two whole ones in [`Ids`].
const IDS_RESTART: usize = 16;

impl Ids {
    /// Append an id. Returns false (and appends nothing) once the ids would take more than
    /// 4 GiB, which the 32-bit restart offsets cannot address.
    pub fn push(&mut self, id: &str) -> bool {
        let restart = self.len.is_multiple_of(IDS_RESTART);
        let mut shared = if restart {
            0
        } else {
            id.bytes()
                .zip(self.last.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        };
        // Cut on a character boundary, so that both parts are text.
        while !id.is_char_boundary(shared) {
            shared -= 1;
        }
        let suffix = &id[shared..];
        let Ok(start) = u32::try_from(self.bytes.len()) else {
            return false;
        };
        if u32::try_from(self.bytes.len() + 20 + suffix.len()).is_err() {
            return false;
        }
        if restart {
            self.restarts.push(start);
        }
        put_leb128(&mut self.bytes, shared);
        put_leb128(&mut self.bytes, suffix.len());
        self.bytes.extend_from_slice(suffix.as_bytes());
        self.last.truncate(shared);
        self.last.push_str(suffix);
        self.len += 1;
        true
    }

    /// The id of record `i` ("" past the end).
    pub fn get(&self, i: usize) -> String {
        self.walker().id(i).to_owned()
    }

    /// A reader of ids by record number that keeps its place: reading ids in increasing order
    /// (the left ids of sorted pairs) decodes each id once, and any other id costs at most
    /// [`IDS_RESTART`] steps, without an allocation per id.
    pub fn walker(&self) -> IdWalker<'_> {
        IdWalker {
            cursor: Cursor { ids: self, at: 0 },
            next: 0,
            id: String::new(),
        }
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Make room for about `additional` more ids like those so far.
    fn reserve(&mut self, additional: usize) {
        let per_id = self.bytes.len().div_ceil(self.len.max(1));
        self.bytes.reserve(additional * per_id);
        self.restarts.reserve(additional.div_ceil(IDS_RESTART));
    }

    /// The ids in order.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        let mut cursor = Cursor { ids: self, at: 0 };
        let mut id = String::new();
        (0..self.len).map_while(move |_| cursor.next_into(&mut id).then(|| id.clone()))
    }
}

/// Reads ids of one [`Ids`] by record number (see [`Ids::walker`]).
#[derive(Debug)]
pub struct IdWalker<'a> {
    cursor: Cursor<'a>,
    /// The record whose id the cursor reads next (`id` holds the one before it).
    next: usize,
    id: String,
}

impl IdWalker<'_> {
    /// The id of record `i` ("" past the end).
    pub fn id(&mut self, i: usize) -> &str {
        let ids = self.cursor.ids;
        if i >= ids.len {
            self.id.clear();
            self.next = 0;
            self.cursor.at = 0;
            return &self.id;
        }
        if i + 1 != self.next {
            let first = i - i % IDS_RESTART;
            // From where it stands the cursor can only go forward, and only within reach.
            if !(first..=i).contains(&self.next) {
                self.cursor.at = ids
                    .restarts
                    .get(first / IDS_RESTART)
                    .map_or(0, |&r| r as usize);
                self.next = first;
                self.id.clear();
            }
            while self.next <= i {
                if !self.cursor.next_into(&mut self.id) {
                    // Not what `push` wrote (cannot happen): no id rather than a wrong one.
                    self.id.clear();
                    self.next = 0;
                    self.cursor.at = 0;
                    return &self.id;
                }
                self.next += 1;
            }
        }
        &self.id
    }
}

/// A position in [`Ids::bytes`].
#[derive(Debug)]
struct Cursor<'a> {
    ids: &'a Ids,
    at: usize,
}

impl Cursor<'_> {
    /// Turn `id` (the previous id) into the next one; false when the buffer ends or is not
    /// what `push` wrote (which cannot happen).
    fn next_into(&mut self, id: &mut String) -> bool {
        let bytes = &self.ids.bytes;
        let (Some(shared), Some(len)) = (
            get_leb128(bytes, &mut self.at),
            get_leb128(bytes, &mut self.at),
        ) else {
            return false;
        };
        let end = self.at.saturating_add(len);
        let Some(Ok(suffix)) = bytes.get(self.at..end).map(std::str::from_utf8) else {
            return false;
        };
        if shared > id.len() || !id.is_char_boundary(shared) {
            return false;
        }
        id.truncate(shared);
        id.push_str(suffix);
        self.at = end;
        true
    }
}

/// Append `n` as unsigned LEB128 (written by hand: two lengths per id do not call for a crate).
fn put_leb128(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Read an unsigned LEB128 at `*at`, advancing it.
fn get_leb128(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..usize::BITS).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= usize::from(b & 0x7F).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// An identity file read, normalised and tokenised as it streams: ids, tokens and counts of
/// unparseable values. No plaintext outlives its batch of rows.
#[derive(Debug)]
pub struct Tokenised {
    /// Record ids, in file order.
    pub ids: Ids,
    /// The records' tokens, in file order.
    pub table: TokenTable,
    /// Values that could not be parsed (became missing), per role.
    pub invalid: InvalidCounts,
}

/// Read, normalise and tokenise an identity CSV in batches of rows (each batch in parallel).
/// Only one batch of plaintext is held at a time, so memory is that of the tokens.
pub fn tokenise_csv(
    path: &Path,
    mapping: Option<&Mapping>,
    encoder: &Encoder,
) -> Result<Tokenised, SourceError> {
    tokenise_csv_cached(path, mapping, encoder, &TokenCache::default())
}

/// [`tokenise_csv`] with token caches shared with other files encoded by the same encoder
/// (two files read side by side then fill one cache instead of two).
pub fn tokenise_csv_cached(
    path: &Path,
    mapping: Option<&Mapping>,
    encoder: &Encoder,
    cache: &TokenCache,
) -> Result<Tokenised, SourceError> {
    const BATCH: usize = 1024;
    let file = std::fs::File::open(path).map_err(|source| SourceError::Io {
        file: path.to_owned(),
        source,
    })?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(file);
    let roles = layout(&mut rdr, path, mapping)?;
    let mut out = Tokenised {
        ids: Ids::default(),
        table: TokenTable::new(encoder),
        invalid: InvalidCounts::new(),
    };
    let mut rec = csv::ByteRecord::new();
    let mut id = String::new();
    let mut row = 0u64;
    // The same records are refilled batch after batch: their strings keep their allocations.
    let mut raws: Vec<RawRecord> = vec![RawRecord::default(); BATCH];
    let mut first = true;
    loop {
        let mut n = 0;
        while n < BATCH {
            row += 1;
            if !next_row(&mut rdr, &mut rec, &roles, path, row, &mut id, &mut raws[n])? {
                break;
            }
            if !out.ids.push(&id) {
                return Err(SourceError::Row {
                    file: path.to_owned(),
                    row,
                    why: "the record ids take more than 4 GiB".into(),
                });
            }
            n += 1;
        }
        if n == 0 {
            break;
        }
        let bad = out.table.push_raw(encoder, &raws[..n], cache);
        for (r, v) in Role::ALL.iter().zip(bad) {
            if v > 0 {
                *out.invalid.entry(r.name()).or_default() += v;
            }
        }
        if first && n == BATCH {
            // Size the table once from the bytes the first batch took, instead of letting
            // every vector double (which can leave half of it unused at the end).
            first = false;
            let per_row = rdr.position().byte() as f64 / n as f64;
            let rows = (file_len as f64 / per_row.max(1.0) * 1.02) as usize;
            let more = rows.saturating_sub(n);
            let gpr = out.table.grams_per_record() + 1;
            out.table.reserve(more, gpr);
            out.ids.reserve(more);
        }
    }
    out.table.shrink_to_fit();
    Ok(out)
}

/// A csv error explained without the offending content.
fn csv_why(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Io(_) => "read error".into(),
        _ => "malformed CSV".into(),
    }
}

/// Values that could not be parsed, per role (counts only).
pub type InvalidCounts = BTreeMap<&'static str, u64>;

/// Normalise every record (in parallel); unparseable values become missing and are counted.
pub fn normalise_all(records: &[RawRecord]) -> (Vec<Identity>, InvalidCounts) {
    let results: Vec<(Identity, Vec<Role>)> = records.par_iter().map(Identity::normalise).collect();
    let mut counts = InvalidCounts::new();
    let mut ids = Vec::with_capacity(results.len());
    for (id, bad) in results {
        for r in bad {
            *counts.entry(r.name()).or_default() += 1;
        }
        ids.push(id);
    }
    (ids, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn febrl_header() {
        let h = "rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id";
        let roles: Vec<Option<Role>> = h.split(',').map(detect_role).collect();
        assert_eq!(
            roles,
            vec![
                Some(Role::Id),
                Some(Role::GivenName),
                Some(Role::FamilyName),
                Some(Role::StreetNumber),
                Some(Role::Address1),
                Some(Role::Address2),
                Some(Role::Suburb),
                Some(Role::PostalCode),
                Some(Role::State),
                Some(Role::BirthDate),
                Some(Role::NationalId)
            ]
        );
    }

    #[test]
    fn japanese_header() {
        let h = "id,family_name,given_name,family_name_kana,given_name_kana,birth_date,sex,postal_code,address,phone,insurer_number,insured_symbol,insured_number,insured_branch";
        for col in h.split(',') {
            let r = detect_role(col).unwrap();
            assert_eq!(r.name(), col);
        }
        assert_eq!(detect_role("生年月日"), Some(Role::BirthDate));
        assert_eq!(detect_role("\u{FEFF}ＩＤ"), Some(Role::Id));
        assert_eq!(detect_role("favourite colour"), None);
    }

    #[test]
    fn reads_with_mapping_and_reports_rows() {
        let csv = "患者番号,氏名,生年\nA1,山田,S45.3.12\nA2,鈴木,1970-01-01\n";
        let map = Mapping::parse(
            "[columns]\nid = \"患者番号\"\nfamily_name = \"氏名\"\nbirth_date = \"生年\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        let s = read_csv_from(csv.as_bytes(), Path::new("a.csv"), Some(&map)).unwrap();
        assert_eq!(s.ids, vec!["A1", "A2"]);
        assert_eq!(s.records[0].get(Role::FamilyName), "山田");
        // Without the mapping, no id column is found.
        assert!(matches!(
            read_csv_from(csv.as_bytes(), Path::new("a.csv"), None),
            Err(SourceError::Header { .. })
        ));
        // A bad row names the row, not its content.
        let bad = "id,surname\n1,Smith\n2,Jones,extra\n";
        let e = read_csv_from(bad.as_bytes(), Path::new("b.csv"), None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "b.csv: row 2: 3 fields where the header has 2");
        assert!(!e.contains("Jones"));
        let e = Mapping::parse("[columns]\nshoe_size = \"x\"\n", Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown role `shoe_size`"), "{e}");
    }

    #[test]
    fn invalid_utf8_names_the_row_not_the_bytes() {
        let mut bad = b"id,family_name\n1,\xE5\xB1\xB1\xE7\x94\xB0\n2,\xE5\xB1".to_vec();
        bad.extend_from_slice(b"\n");
        let e = read_csv_from(&bad[..], Path::new("u.csv"), None)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "u.csv: row 2: not valid UTF-8");
        // Multi-byte text on both sides of a field boundary reads back field by field.
        let good = "id,family_name,given_name\n1,山田,太郎\n2,ｶﾞ,\u{3000}花子\u{3000}\n";
        let s = read_csv_from(good.as_bytes(), Path::new("g.csv"), None).unwrap();
        assert_eq!(s.ids, vec!["1", "2"]);
        assert_eq!(s.records[0].get(Role::GivenName), "太郎");
        assert_eq!(s.records[1].get(Role::FamilyName), "ｶﾞ");
        assert_eq!(s.records[1].get(Role::GivenName), "花子");
    }

    #[test]
    fn ids_in_one_buffer() {
        let mut ids = Ids::default();
        assert!(ids.is_empty());
        for id in ["A1", "", "rec-3-dup-0"] {
            assert!(ids.push(id));
        }
        assert_eq!(ids.len(), 3);
        assert_eq!(ids.get(0), "A1");
        assert_eq!(ids.get(1), "");
        assert_eq!(ids.get(2), "rec-3-dup-0");
        assert_eq!(ids.get(3), "");
        assert_eq!(
            ids.iter().collect::<Vec<_>>(),
            vec!["A1", "", "rec-3-dup-0"]
        );
    }

    proptest::proptest! {
        /// Front-coded ids read back as pushed, one by one and in order, whatever they share
        /// (multi-byte characters cut by a shared prefix included).
        #[test]
        fn ids_read_back_as_pushed(
            list in proptest::collection::vec("(L000|PAT-|患者|患|)[0-9あ-ん]{0,4}", 0..60)
        ) {
            let mut ids = Ids::default();
            for id in &list {
                proptest::prop_assert!(ids.push(id));
            }
            proptest::prop_assert_eq!(ids.len(), list.len());
            for (i, id) in list.iter().enumerate() {
                proptest::prop_assert_eq!(&ids.get(i), id);
            }
            proptest::prop_assert_eq!(ids.get(list.len()), "");
            proptest::prop_assert!(ids.iter().eq(list.iter().cloned()));
        }

        /// One walker asked for ids in any order (forward, back, repeated, past the end) gives
        /// each as pushed.
        #[test]
        fn a_walker_reads_ids_in_any_order(
            list in proptest::collection::vec("(L000|PAT-|患者|)[0-9あ-ん]{0,3}", 0..80),
            asks in proptest::collection::vec(0usize..90, 0..200),
        ) {
            let mut ids = Ids::default();
            for id in &list {
                proptest::prop_assert!(ids.push(id));
            }
            let mut w = ids.walker();
            for i in asks {
                let want = list.get(i).map_or("", String::as_str);
                proptest::prop_assert_eq!(w.id(i), want);
            }
        }
    }

    #[test]
    fn invalid_values_are_counted_not_shown() {
        let csv = "id,birth_date,sex\n1,昭和64年1月8日,1\n2,1970-02-30,X\n3,S45.3.12,2\n";
        let s = read_csv_from(csv.as_bytes(), Path::new("a.csv"), None).unwrap();
        let (ids, counts) = normalise_all(&s.records);
        assert_eq!(ids.len(), 3);
        assert_eq!(counts.get("birth_date"), Some(&2));
        assert_eq!(counts.get("sex"), Some(&1));
        assert!(ids[2].birth_date.is_some());
    }
}
