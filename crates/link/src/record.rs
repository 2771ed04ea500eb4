//! Identity records: raw (as read), normalised (plaintext, vault side) and tokenised (the only
//! form the linker sees).

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use tsunagu_model::{PostalCode, Sex};

use crate::normalize::{self, address::Address};
use crate::schema::{FieldKind, Role, Schema};
use crate::token::{FieldKey, LinkageKey, Tag, Token, qgrams};

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
    /// Postal code.
    pub postal: Option<PostalCode>,
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
            match normalize::postal(v) {
                Ok(p) => id.postal = Some(p),
                Err(_) => bad.push(Role::PostalCode),
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
        for g in qgrams(value, 2) {
            out.push(key.token(tag, &g));
        }
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
                        if let Some(p) = id.postal {
                            let s = p.as_str();
                            t.whole = key.token(Tag::Whole, s);
                            t.alt[0] = key.token(Tag::Part1, &s[..3]);
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
                        Self::grams(key, Tag::Gram, v, &mut t.grams);
                    }
                }
                t.grams.sort_unstable();
                t.grams.dedup();
                t
            })
            .collect()
    }
}

/// One field of a [`TokenTable`], stored by column.
#[derive(Debug, Clone, Default)]
pub struct Column {
    whole: Vec<Token>,
    alt: Vec<[Token; 4]>,
    offsets: Vec<u32>,
    grams: Vec<Token>,
}

impl Column {
    /// Whole-value token of a record.
    #[inline]
    pub fn whole(&self, i: usize) -> Token {
        self.whole[i]
    }

    /// Variant tokens of a record.
    #[inline]
    pub fn alt(&self, i: usize) -> &[Token; 4] {
        &self.alt[i]
    }

    /// Sorted q-gram tokens of a record.
    #[inline]
    pub fn grams(&self, i: usize) -> &[Token] {
        &self.grams[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Tokenised records, by column: what the linker works on. Holds no plaintext.
#[derive(Debug, Clone)]
pub struct TokenTable {
    schema: Schema,
    columns: Vec<Column>,
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
    pub fn from_rows(schema: Schema, rows: Vec<Vec<FieldTokens>>) -> TokenTable {
        let nf = schema.fields.len();
        let mut columns: Vec<Column> = (0..nf)
            .map(|_| Column {
                whole: Vec::with_capacity(rows.len()),
                alt: Vec::with_capacity(rows.len()),
                offsets: vec![0],
                grams: Vec::new(),
            })
            .collect();
        for row in &rows {
            for (c, ft) in columns.iter_mut().zip(
                row.iter()
                    .chain(std::iter::repeat(&FieldTokens::default()))
                    .take(nf),
            ) {
                c.whole.push(ft.whole);
                c.alt.push(ft.alt);
                c.grams.extend_from_slice(&ft.grams);
                c.offsets
                    .push(u32::try_from(c.grams.len()).unwrap_or(u32::MAX));
            }
        }
        TokenTable {
            schema,
            columns,
            len: rows.len(),
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

    /// One field's column.
    #[inline]
    pub fn column(&self, field: usize) -> &Column {
        &self.columns[field]
    }
}
