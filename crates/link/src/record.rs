//! Identity records: raw (as read), normalised (plaintext, vault side) and tokenised (the only
//! form the linker sees).

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use tsunagu_model::{PostalCode, Sex};

use crate::normalize::{self, address::Address};
use crate::schema::{FieldKind, Role, Schema};
use crate::token::{FieldKey, LinkageKey, Tag, Token, for_each_qgram};

/// One record as read from a file: the text of each role. Holds personal data: `Debug` is
/// redacted.
#[derive(Clone, Default)]
pub struct RawRecord {
    values: [String; Role::ALL.len()],
}

impl std::fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawRecord([redacted])")
    }
}

impl RawRecord {
    /// The text of a role ("" when absent).
    pub fn get(&self, role: Role) -> &str {
        &self.values[role.index()]
    }

    /// Set the text of a role.
    pub fn set(&mut self, role: Role, value: impl Into<String>) {
        self.values[role.index()] = value.into();
    }
}

/// A name part: as written (kanji or Latin) and its kana reading, both normalised.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NamePart {
    /// Written form (漢字 or Latin), normalised.
    pub written: String,
    /// Reading in katakana, normalised.
    pub kana: String,
}

/// A normalised identity (plaintext; lives on the vault side only). `Debug` is redacted.
#[derive(Clone, Default)]
pub struct Identity {
    /// 姓.
    pub family: NamePart,
    /// 名.
    pub given: NamePart,
    /// Date of birth.
    pub birth_date: Option<NaiveDate>,
    /// Sex (unknown = `None`).
    pub sex: Option<Sex>,
    /// Postal code (Japanese).
    pub postal: Option<PostalCode>,
    /// Digits of the postal code as written (also for foreign codes such as FEBRL's
    /// Australian postcodes, which are not Japanese postal codes but still compare).
    pub postal_digits: String,
    /// Japanese address, split.
    pub address: Option<Address>,
    /// Normalised free-text roles (street number, address lines, suburb, state, phone,
    /// national id), indexed by role.
    pub texts: Vec<(Role, String)>,
    /// Insurance card: insurer number, symbol, number, branch (normalised).
    pub insurance: [String; 4],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity([redacted])")
    }
}

const TEXT_ROLES: [Role; 7] = [
    Role::StreetNumber,
    Role::Address1,
    Role::Address2,
    Role::Suburb,
    Role::State,
    Role::Phone,
    Role::NationalId,
];

impl Identity {
    /// Normalise a raw record. Values that cannot be parsed (an impossible date, an unknown
    /// sex code, a malformed postal code) become missing; their roles are returned so that the
    /// caller can count or reject them — never the values themselves.
    pub fn normalise(raw: &RawRecord) -> (Identity, Vec<Role>) {
        let mut bad = Vec::new();
        let mut id = Identity {
            family: NamePart {
                written: normalize::text(raw.get(Role::FamilyName)),
                kana: normalize::text(raw.get(Role::FamilyNameKana)),
            },
            given: NamePart {
                written: normalize::text(raw.get(Role::GivenName)),
                kana: normalize::text(raw.get(Role::GivenNameKana)),
            },
            ..Identity::default()
        };
        let v = raw.get(Role::BirthDate).trim();
        if !v.is_empty() {
            match normalize::date(v) {
                Ok(d) => id.birth_date = Some(d),
                Err(_) => bad.push(Role::BirthDate),
            }
        }
        match normalize::sex(raw.get(Role::Sex)) {
            Ok(s) => id.sex = s,
            Err(_) => bad.push(Role::Sex),
        }
        let v = raw.get(Role::PostalCode).trim();
        if !v.is_empty() {
            id.postal_digits = normalize::digits(v);
            match normalize::postal(v) {
                Ok(p) => id.postal = Some(p),
                // Only a value without any digit is unusable.
                Err(_) if id.postal_digits.is_empty() => bad.push(Role::PostalCode),
                Err(_) => {}
            }
        }
        let v = raw.get(Role::Address).trim();
        if !v.is_empty() {
            id.address = Some(normalize::address::split(v, id.postal));
        }
        for r in TEXT_ROLES {
            let v = raw.get(r);
            let t = match r {
                Role::Phone => normalize::digits(v),
                _ => normalize::text(v),
            };
            if !t.is_empty() {
                id.texts.push((r, t));
            }
        }
        id.insurance = [
            normalize::digits(raw.get(Role::InsurerNumber)),
            normalize::text(raw.get(Role::InsuredSymbol)),
            normalize::text(raw.get(Role::InsuredNumber)),
            normalize::digits(raw.get(Role::InsuredBranch)),
        ];
        (id, bad)
    }

    fn text(&self, role: Role) -> &str {
        self.texts
            .iter()
            .find(|(r, _)| *r == role)
            .map_or("", |(_, t)| t.as_str())
    }
}

/// The tokens of one field of one record.
#[derive(Debug, Clone, Default)]
pub struct FieldTokens {
    /// The whole value.
    pub whole: Token,
    /// Kind-specific variants (reading, phonetic key, date positions, coarser parts).
    pub alt: [Token; 4],
    /// Sorted, de-duplicated q-gram tokens.
    pub grams: Vec<Token>,
}

/// Turns normalised identities into tokens with the field keys of one linkage key.
#[derive(Debug, Clone)]
pub struct Encoder {
    schema: Schema,
    keys: Vec<FieldKey>,
}

impl Encoder {
    /// An encoder for a schema. 姓 and 名 share one key so that a swapped name is detectable.
    pub fn new(key: &LinkageKey, schema: Schema) -> Self {
        let keys = schema
            .fields
            .iter()
            .map(|f| match f {
                FieldKind::FamilyName | FieldKind::GivenName => key.field_key("name"),
                other => key.field_key(other.name()),
            })
            .collect();
        Encoder { schema, keys }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    fn grams(key: &FieldKey, tag: Tag, value: &str, out: &mut Vec<Token>) {
        for_each_qgram(value, 2, |g| out.push(key.token(tag, g)));
    }

    /// Tokens of every field of one identity.
    pub fn encode(&self, id: &Identity) -> Vec<FieldTokens> {
        self.schema
            .fields
            .iter()
            .zip(&self.keys)
            .map(|(kind, key)| {
                let mut t = FieldTokens::default();
                match kind {
                    FieldKind::FamilyName | FieldKind::GivenName => {
                        let n = if *kind == FieldKind::FamilyName {
                            &id.family
                        } else {
                            &id.given
                        };
                        // A name given only in kana is its own written form.
                        let written = if n.written.is_empty() {
                            &n.kana
                        } else {
                            &n.written
                        };
                        t.whole = key.token(Tag::Whole, written);
                        t.alt[0] = key.token(Tag::Kana, &n.kana);
                        let ph_src = if n.kana.is_empty() { written } else { &n.kana };
                        t.alt[1] = key.token(Tag::Phonetic, &normalize::phonetic(ph_src));
                        Self::grams(key, Tag::Gram, ph_src, &mut t.grams);
                        if !n.kana.is_empty() && !n.written.is_empty() {
                            Self::grams(key, Tag::Part1, &n.written, &mut t.grams);
                        }
                    }
                    FieldKind::BirthDate => {
                        if let Some(d) = id.birth_date {
                            let (y, m, dd) = (d.year(), d.month(), d.day());
                            t.whole = key.token(Tag::Whole, &format!("{y:04}-{m:02}-{dd:02}"));
                            if dd <= 12 && dd != m {
                                t.alt[0] = key.token(Tag::Whole, &format!("{y:04}-{dd:02}-{m:02}"));
                            }
                            t.alt[1] = key.token(Tag::Year, &y.to_string());
                            t.alt[2] = key.token(Tag::Month, &m.to_string());
                            t.alt[3] = key.token(Tag::Day, &dd.to_string());
                        }
                    }
                    FieldKind::Sex => {
                        if let Some(s) = id.sex {
                            t.whole = key.token(Tag::Whole, s.as_str());
                        }
                    }
                    FieldKind::PostalCode => {
                        let s = match id.postal {
                            Some(p) => p.as_str().to_owned(),
                            None => id.postal_digits.clone(),
                        };
                        t.whole = key.token(Tag::Whole, &s);
                        if s.len() > 3 {
                            t.alt[0] = key.token(Tag::Part1, &s[..3]);
                        }
                        if s.len() > 5 {
                            t.alt[1] = key.token(Tag::Part2, &s[..5]);
                        }
                    }
                    FieldKind::JpAddress => {
                        if let Some(a) = &id.address {
                            let muni = format!("{}|{}", a.prefecture, a.municipality);
                            let town = format!("{muni}|{}", a.town);
                            let full = format!("{town}|{}", a.block);
                            t.whole = key.token(Tag::Whole, &full);
                            if !a.town.is_empty() {
                                t.alt[0] = key.token(Tag::Part1, &town);
                            }
                            if !a.municipality.is_empty() {
                                t.alt[1] = key.token(Tag::Part2, &muni);
                            }
                            let flat =
                                format!("{}{}{}{}", a.prefecture, a.municipality, a.town, a.block);
                            Self::grams(key, Tag::Gram, &flat, &mut t.grams);
                        }
                    }
                    FieldKind::Insurance => {
                        let [insurer, symbol, number, _branch] = &id.insurance;
                        if !number.is_empty() {
                            t.whole =
                                key.token(Tag::Whole, &format!("{insurer}|{symbol}|{number}"));
                            t.alt[1] = key.token(Tag::Part2, &format!("{insurer}|{number}"));
                            if !symbol.is_empty() {
                                t.alt[2] = key.token(Tag::Part3, &format!("{symbol}|{number}"));
                            }
                        }
                        t.alt[0] = key.token(Tag::Part1, insurer);
                    }
                    FieldKind::Text(role) => {
                        let v = id.text(*role);
                        t.whole = key.token(Tag::Whole, v);
                        if v.chars().any(|c| !c.is_ascii_digit()) {
                            t.alt[0] = key.token(Tag::Phonetic, &normalize::phonetic(v));
                        }
                        // A phone number is compared whole: a typo in it is another number.
                        if *role != Role::Phone {
                            Self::grams(key, Tag::Gram, v, &mut t.grams);
                        }
                    }
                }
                t.grams.sort_unstable();
                t.grams.dedup();
                t
            })
            .collect()
    }
}

/// Tokens per field in a row: the whole value and four variants.
const SLOTS: usize = 5;

/// One field of a [`TokenTable`], viewed across records.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    table: &'a TokenTable,
    field: usize,
}

impl<'a> Column<'a> {
    #[inline]
    fn slot(&self, i: usize) -> usize {
        i * self.table.stride + self.field * SLOTS
    }

    /// Whole-value token of a record.
    #[inline]
    pub fn whole(&self, i: usize) -> Token {
        self.table.rows[self.slot(i)]
    }

    /// Variant tokens of a record.
    #[inline]
    pub fn alt(&self, i: usize) -> &'a [Token] {
        let s = self.slot(i);
        &self.table.rows[s + 1..s + SLOTS]
    }

    /// Sorted q-gram tokens of a record.
    #[inline]
    pub fn grams(&self, i: usize) -> &'a [Token] {
        let k = i * self.table.nf + self.field;
        &self.table.grams[self.table.offsets[k] as usize..self.table.offsets[k + 1] as usize]
    }
}

/// Tokenised records: what the linker works on. Holds no plaintext.
///
/// Stored row by row (all tokens of a record next to each other, q-grams in one run per
/// record), because comparison reads whole records of random pairs: one record costs a few
/// cache lines instead of several misses per field.
#[derive(Debug, Clone)]
pub struct TokenTable {
    schema: Schema,
    nf: usize,
    stride: usize,
    rows: Vec<Token>,
    offsets: Vec<u32>,
    grams: Vec<Token>,
    len: usize,
}

impl TokenTable {
    /// Encode identities (in parallel).
    pub fn encode(encoder: &Encoder, identities: &[Identity]) -> TokenTable {
        let rows: Vec<Vec<FieldTokens>> =
            identities.par_iter().map(|id| encoder.encode(id)).collect();
        TokenTable::from_rows(encoder.schema().clone(), rows)
    }

    /// Build from per-record tokens (e.g. re-loaded from storage).
    pub fn from_rows(schema: Schema, records: Vec<Vec<FieldTokens>>) -> TokenTable {
        let nf = schema.fields.len();
        let stride = nf * SLOTS;
        let mut rows = Vec::with_capacity(records.len() * stride);
        let mut offsets = Vec::with_capacity(records.len() * nf + 1);
        offsets.push(0u32);
        let mut grams = Vec::new();
        let empty = FieldTokens::default();
        for rec in &records {
            for f in 0..nf {
                let ft = rec.get(f).unwrap_or(&empty);
                rows.push(ft.whole);
                rows.extend_from_slice(&ft.alt);
                grams.extend_from_slice(&ft.grams);
                offsets.push(u32::try_from(grams.len()).unwrap_or(u32::MAX));
            }
        }
        TokenTable {
            schema,
            nf,
            stride,
            rows,
            offsets,
            grams,
            len: records.len(),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// One field's tokens across records.
    #[inline]
    pub fn column(&self, field: usize) -> Column<'_> {
        Column { table: self, field }
    }
}
