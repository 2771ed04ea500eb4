//! Identity records: raw (as read), normalised (plaintext, vault side) and tokenised (the only
//! form the linker sees).

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use tsunagu_model::{PostalCode, Sex};

use crate::normalize::{self, address::Address};
use crate::schema::{FieldKind, Role, Schema};
use crate::token::{FieldKey, LinkageKey, Tag, Token, for_each_bigram, for_each_qgram};

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

    /// Set the text of a role, reusing the allocation the role already has (a reader that
    /// refills the same records batch after batch allocates nothing per row).
    pub fn set_str(&mut self, role: Role, value: &str) {
        let v = &mut self.values[role.index()];
        v.clear();
        v.push_str(value);
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

impl NamePart {
    /// The normalised family (`which` 0) or given (1) name of a raw record.
    fn of(raw: &RawRecord, which: usize) -> NamePart {
        let mut n = NamePart::default();
        n.fill(raw, which);
        n
    }

    /// [`NamePart::of`] into this name's strings.
    fn fill(&mut self, raw: &RawRecord, which: usize) {
        let [written, kana] = NAME_ROLES[which];
        normalize::text_to(raw.get(written), &mut self.written);
        normalize::text_to(raw.get(kana), &mut self.kana);
    }
}

/// The roles of the family and the given name: written form and reading.
const NAME_ROLES: [[Role; 2]; 2] = [
    [Role::FamilyName, Role::FamilyNameKana],
    [Role::GivenName, Role::GivenNameKana],
];

/// A record's names as they were read, for the encoder's memo of names: the keys under which
/// the tokens of its family and given name are remembered (a keyed hash of the raw text, see
/// [`GramCache`]), and which of the two were therefore left unnormalised. Nine records in ten
/// carry a name seen before, and the memo then spares normalising it as well as tokenising it.
#[derive(Clone, Copy)]
struct RawNames<'a> {
    raw: &'a RawRecord,
    keys: [u64; 2],
    /// Where the memo's list holds each name's tokens, as of [`RawNames::generation`].
    found: [Option<u32>; 2],
    skipped: [bool; 2],
    /// The memo's [`GramCache::name_generation`] when the names were looked up.
    generation: u32,
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
        Identity::normalise_with(raw, [false; 2])
    }

    /// [`Identity::normalise`], leaving the family (`skip[0]`) or given (`skip[1]`) name empty:
    /// the encoder knows their tokens already (see [`RawNames`]).
    fn normalise_with(raw: &RawRecord, skip: [bool; 2]) -> (Identity, Vec<Role>) {
        let mut id = Identity::default();
        let bad = id.normalise_into(raw, skip);
        (id, bad)
    }

    /// [`Identity::normalise_with`] into this identity, reusing its strings (a task normalises
    /// its records one after another into one identity): the roles of unparseable values.
    fn normalise_into(&mut self, raw: &RawRecord, skip: [bool; 2]) -> Vec<Role> {
        let mut bad = Vec::new();
        for (which, (part, skip)) in [&mut self.family, &mut self.given]
            .into_iter()
            .zip(skip)
            .enumerate()
        {
            if skip {
                part.written.clear();
                part.kana.clear();
            } else {
                part.fill(raw, which);
            }
        }
        self.birth_date = None;
        let v = raw.get(Role::BirthDate).trim();
        if !v.is_empty() {
            match normalize::date(v) {
                Ok(d) => self.birth_date = Some(d),
                Err(_) => bad.push(Role::BirthDate),
            }
        }
        self.sex = None;
        match normalize::sex(raw.get(Role::Sex)) {
            Ok(s) => self.sex = s,
            Err(_) => bad.push(Role::Sex),
        }
        self.postal = None;
        self.postal_digits.clear();
        let v = raw.get(Role::PostalCode).trim();
        if !v.is_empty() {
            normalize::digits_to(v, &mut self.postal_digits);
            match normalize::postal(v) {
                Ok(p) => self.postal = Some(p),
                // Only a value without any digit is unusable.
                Err(_) if self.postal_digits.is_empty() => bad.push(Role::PostalCode),
                Err(_) => {}
            }
        }
        let v = raw.get(Role::Address).trim();
        if v.is_empty() {
            self.address = None;
        } else {
            let a = self.address.get_or_insert_with(Address::default);
            normalize::address::split_into(v, self.postal, a);
        }
        // Each role's text goes into the next slot's string; only non-empty ones are kept.
        let mut n = 0;
        for r in TEXT_ROLES {
            if n == self.texts.len() {
                self.texts.push((r, String::new()));
            }
            let Some((role, t)) = self.texts.get_mut(n) else {
                break;
            };
            *role = r;
            match r {
                Role::Phone => normalize::digits_to(raw.get(r), t),
                _ => normalize::text_to(raw.get(r), t),
            }
            if !t.is_empty() {
                n += 1;
            }
        }
        self.texts.truncate(n);
        let [insurer, symbol, number, branch] = &mut self.insurance;
        normalize::digits_to(raw.get(Role::InsurerNumber), insurer);
        normalize::text_to(raw.get(Role::InsuredSymbol), symbol);
        normalize::text_to(raw.get(Role::InsuredNumber), number);
        normalize::digits_to(raw.get(Role::InsuredBranch), branch);
        bad
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
    /// The whole value. A birth date's is not a token but its year, month and day numbered and
    /// packed (`DateParts`), from which a table derives the date's variants.
    pub whole: Token,
    /// Kind-specific variants (reading, phonetic key, coarser parts).
    pub alt: [Token; 4],
    /// Sorted, de-duplicated q-grams, as their numbers in the encoder's [`GramNumbers`].
    pub grams: Vec<u32>,
    /// Where composite values are assembled (reused from record to record).
    text: String,
}

/// Tokens of short values already computed, keyed by (field, tag, value bytes): q-grams (at
/// most two characters, 8 bytes of UTF-8) and the parts of a record that identify nobody by
/// themselves (birth year, month and day, sex, a three-digit postal area and the two-digit
/// groups after it, an insurer's number).
/// The key is one 64-bit integer (value bytes, length, tag, field), so an entry is 16 bytes and
/// a hit costs a hash lookup instead of two SHA-256 compressions; a value longer than six bytes
/// (one two-character kana or kanji gram is six) is not cached.
///
/// Only such values may go through the cache as they are: it outlives the batch of plaintext
/// it was filled from, and a name, a full postal code or an address kept here would outlive it
/// too. Names go through a second map whose key is not the name but a 64-bit SipHash of it under
/// a random key of this cache, made when the cache is and never stored: what it holds is then a
/// keyed hash of a name next to that name's tokens, which is what the token table holds anyway.
///
/// Everything in it was computed by one encoder (`owner`, its [`GramNumbers`]' number): a
/// cache met by another encoder starts afresh.
struct GramCache {
    owner: u64,
    tokens: Memo<Token>,
    /// Q-grams' numbers in the owner's [`GramNumbers`].
    grams: Memo<u32>,
    /// The tokens of names seen before (written form and reading, per field): a surname recurs
    /// in thousands of records, and each costs three tokens, a phonetic key and its q-grams.
    /// Keys are hashes of normalised names and of names as read (several spellings of one
    /// name share its entry in `name_list`, so a spelling costs 12 bytes, not a copy).
    names: std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<MulHasher>>,
    /// The remembered names' tokens, by the index `names` gives.
    name_list: Vec<NameTokens>,
    /// The q-gram numbers of the names in `names`, one run per name.
    name_grams: Vec<u32>,
    /// The random key of the names' hash (std's `RandomState`: SipHash-1-3 under a key drawn
    /// from the operating system's generator).
    name_key: std::hash::RandomState,
    /// A second such key, for names as they were read (before normalisation): a raw and a
    /// normalised name share `names`, under hashes that are independent of each other.
    raw_name_key: std::hash::RandomState,
    /// Raw names seen once (a bit per hash, [`SEEN_BITS`] of them): a spelling is remembered
    /// only when it comes again, since most one-off spellings (typos, variant scripts) never
    /// do and their entries would only take memory.
    seen: Box<[u64]>,
    /// How many times the names were emptied: an index into `name_list` found before a
    /// change of generation no longer says anything.
    name_generation: u32,
}

/// Bits of [`GramCache::seen`] (128 KiB).
const SEEN_BITS: usize = 1 << 20;

/// Values of one kind remembered by a 64-bit key (see [`GramCache`]).
struct Memo<V> {
    map: std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<MulHasher>>,
    /// A direct-mapped copy of recently used entries (key 0 = empty slot: a real key has a
    /// non-zero tag byte) in front of the map: a table of a hundred thousand grams lives
    /// outside the core's own cache, and the few hundred common kana pairs and birth months
    /// that make up most lookups then cost one probe of a small table instead.
    front: Box<[(u64, V)]>,
}

/// Slots of [`Memo::front`] (64 KiB).
const FRONT: usize = 1 << 12;

impl<V: Copy + Default> Memo<V> {
    fn new() -> Self {
        Memo {
            map: Default::default(),
            front: vec![(0, V::default()); FRONT].into_boxed_slice(),
        }
    }

    /// The value remembered under `k`, else `make()`'s, remembered.
    #[inline]
    fn get_or(&mut self, k: u64, make: impl FnOnce() -> V) -> V {
        let slot = home_slot(k, FRONT);
        if let Some(&(fk, v)) = self.front.get(slot)
            && fk == k
        {
            return v;
        }
        if self.map.len() >= CACHE_LIMIT {
            self.map.clear();
        }
        let v = *self.map.entry(k).or_insert_with(make);
        if let Some(e) = self.front.get_mut(slot) {
            *e = (k, v);
        }
        v
    }
}

/// Where key `k` goes in a table of `slots` slots (a power of two): the high bits of a
/// multiplicative hash, which are the well-mixed ones.
#[inline]
fn home_slot(k: u64, slots: usize) -> usize {
    let bits = slots.saturating_sub(1).count_ones();
    k.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .checked_shr(64 - bits)
        .unwrap_or(0) as usize
}

/// The memo key of a short value of field `f` under `tag` (`None`: too long to be cached).
#[inline]
fn memo_key(f: usize, tag: Tag, value: &str) -> Option<u64> {
    let b = value.as_bytes();
    if b.len() > 6 || f > 0xFF {
        return None;
    }
    let mut k = [0u8; 8];
    k[..b.len()].copy_from_slice(b);
    // Length (0–6) in 3 bits and the tag (1–11) in 5 share byte 6; the field is byte 7.
    k[6] = b.len() as u8 | (tag as u8) << 3;
    k[7] = f as u8;
    Some(u64::from_le_bytes(k))
}

impl GramCache {
    fn new(owner: u64) -> Self {
        GramCache {
            owner,
            tokens: Memo::new(),
            grams: Memo::new(),
            names: Default::default(),
            name_list: Vec::new(),
            name_grams: Vec::new(),
            name_key: std::hash::RandomState::new(),
            raw_name_key: std::hash::RandomState::new(),
            seen: vec![0; SEEN_BITS / 64].into_boxed_slice(),
            name_generation: 0,
        }
    }
}

/// A name's tokens in [`GramCache::names`].
#[derive(Clone, Copy)]
struct NameTokens {
    whole: Token,
    kana: Token,
    phonetic: Token,
    /// Its q-gram numbers: `name_grams[start..start + len]`.
    start: u32,
    len: u32,
}

/// The numbers of short digit runs (a date's year, month and day, a postal code's digit
/// groups), by (field, tag), length and value, in tables indexed by the digits: one table for
/// all threads, read without a lock (a number, once known, never changes: racing threads
/// store the same one). Five such lookups a record were hashed-memo probes that missed the
/// core's cache as often as not. A value is a place or a date part, nobody's personal data.
struct Parts(Vec<((usize, Tag), ByLength)>);

/// A field-tag's digit tables for runs of 1, 2, 3 and 4 digits (u32::MAX: not numbered yet).
type ByLength = [std::sync::OnceLock<Box<[std::sync::atomic::AtomicU32]>>; 4];

impl Parts {
    /// Tables for the tags the encoder numbers digit runs under, for the schema's fields.
    fn new(schema: &Schema) -> Self {
        let mut v = Vec::new();
        for (f, kind) in schema.fields.iter().enumerate() {
            let tags: &[Tag] = match kind {
                FieldKind::BirthDate => &[Tag::Year, Tag::Day],
                FieldKind::PostalCode => &[Tag::Part1, Tag::Part2],
                _ => &[],
            };
            for &t in tags {
                v.push(((f, t), Default::default()));
            }
        }
        Parts(v)
    }

    /// The table of runs of `len` (1–4) digits of (field, tag), made on first use.
    fn table(&self, f: usize, tag: Tag, len: usize) -> Option<&[std::sync::atomic::AtomicU32]> {
        let (_, by_len) = self.0.iter().find(|(w, _)| *w == (f, tag))?;
        let slot = by_len.get(len.checked_sub(1)?)?;
        Some(slot.get_or_init(|| {
            (0..10usize.pow(len as u32))
                .map(|_| std::sync::atomic::AtomicU32::new(u32::MAX))
                .collect()
        }))
    }
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parts({})", self.0.len())
    }
}

/// What every address of one directory municipality starts with, tokenised: the token of its
/// prefecture and municipality, and the q-gram numbers of the text up to the municipality's end.
struct Place {
    token: Token,
    grams: Box<[u32]>,
}

/// [`Place`]s by directory municipality (`Address::place`), each made the first time an
/// address of it is encoded. One table for all threads (about 1,900 entries): a place is
/// nobody's personal data, and per-thread copies cost a megabyte at the peak.
struct Places(Box<[std::sync::OnceLock<Place>]>);

impl Places {
    fn new() -> Self {
        Places(
            (0..normalize::address::place_count())
                .map(|_| std::sync::OnceLock::new())
                .collect(),
        )
    }
}

impl std::fmt::Debug for Places {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Places({})", self.0.len())
    }
}

/// Names a cache may hold before it is emptied (with their q-grams, about 16 MiB at most).
const NAME_LIMIT: usize = 1 << 17;

/// Entries a memo may hold before it is emptied: the most a table of 65,536 slots holds
/// (7/8 of them, 1 MiB). The distinct q-grams of 200,000 Japanese records come to about
/// 64,000, and one entry past this doubled each encoding thread's table for nothing: emptied
/// instead, the memo refills with what is still in use (the front table keeps the commonest).
const CACHE_LIMIT: usize = 57_344;

impl GramCache {
    fn token(&mut self, f: usize, key: &FieldKey, tag: Tag, value: &str) -> Token {
        match memo_key(f, tag, value) {
            Some(k) => self.tokens.get_or(k, || key.token(tag, value)),
            None => key.token(tag, value),
        }
    }

    /// The number of a short value's token in lane `lane` of `numbers` (a q-gram's lane is
    /// its field's; see [`part_lane`] for the others).
    fn gram(
        &mut self,
        f: usize,
        lane: usize,
        key: &FieldKey,
        tag: Tag,
        gram: &str,
        numbers: &GramNumbers,
    ) -> u32 {
        let number = || numbers.number(lane, key.token(tag, gram).short());
        match memo_key(f, tag, gram) {
            Some(k) => self.grams.get_or(k, number),
            None => number(),
        }
    }

    /// The keyed hash under which a name of field `f` is remembered.
    fn name_hash(&self, f: usize, written: &str, kana: &str) -> u64 {
        use std::hash::BuildHasher;
        self.name_key.hash_one((f, written, kana))
    }

    /// Make this cache `encoder`'s: a cache answers only for the encoder that filled it (ids
    /// start at 1: a new cache, owner 0, is claimed here).
    fn claim(&mut self, encoder: &Encoder) {
        if self.owner != encoder.numbers.id {
            *self = GramCache::new(encoder.numbers.id);
        }
    }

    /// The keys of a raw record's family and given names, and whether each is remembered.
    fn raw_names<'a>(&self, raw: &'a RawRecord) -> RawNames<'a> {
        use std::hash::BuildHasher;
        // Which of the two is hashed in: the fields number their q-grams apart.
        let mut which = 0u8;
        let keys = NAME_ROLES.map(|[w, k]| {
            which += 1;
            self.raw_name_key.hash_one((which, raw.get(w), raw.get(k)))
        });
        let found = keys.map(|h| self.names.get(&h).copied());
        RawNames {
            raw,
            keys,
            found,
            skipped: found.map(|i| i.is_some()),
            generation: self.name_generation,
        }
    }

    /// Fill `t` with a remembered name's tokens; false when it is not remembered.
    fn recall_name(&self, h: u64, t: &mut FieldTokens) -> bool {
        match self.names.get(&h) {
            Some(&i) => self.recall_at(i, t),
            None => false,
        }
    }

    /// Fill `t` with the tokens of entry `i` of the name list; false when there is none.
    fn recall_at(&self, i: u32, t: &mut FieldTokens) -> bool {
        let Some(e) = self.name_list.get(i as usize) else {
            return false;
        };
        let (s, n) = (e.start as usize, e.len as usize);
        let Some(grams) = self.name_grams.get(s..s + n) else {
            return false;
        };
        t.whole = e.whole;
        t.alt[0] = e.kana;
        t.alt[1] = e.phonetic;
        t.grams.extend_from_slice(grams);
        true
    }

    /// Remember the tokens a name just got (`t` holds that field's tokens only) under `h`.
    fn remember_name(&mut self, h: u64, t: &FieldTokens) {
        if self.names.len() >= NAME_LIMIT || self.name_grams.len() > NAME_LIMIT * 16 {
            self.forget_names();
        }
        let (Ok(start), Ok(len), Ok(index)) = (
            u32::try_from(self.name_grams.len()),
            u32::try_from(t.grams.len()),
            u32::try_from(self.name_list.len()),
        ) else {
            return;
        };
        self.name_grams.extend_from_slice(&t.grams);
        self.name_list.push(NameTokens {
            whole: t.whole,
            kana: t.alt[0],
            phonetic: t.alt[1],
            start,
            len,
        });
        self.names.insert(h, index);
    }

    /// Empty the memo of names (a new generation: indices found before mean nothing now).
    fn forget_names(&mut self) {
        self.names.clear();
        self.name_list.clear();
        self.name_grams.clear();
        self.name_generation = self.name_generation.wrapping_add(1);
    }

    /// Remember under `alias` too what is remembered under `h` (a spelling of that name),
    /// from the second time the spelling is met.
    fn alias_name(&mut self, alias: u64, h: u64) {
        let bit = (alias as usize) & (SEEN_BITS - 1);
        let Some(word) = self.seen.get_mut(bit / 64) else {
            return;
        };
        let mask = 1u64 << (bit % 64);
        if *word & mask == 0 {
            *word |= mask;
            return;
        }
        if let Some(&i) = self.names.get(&h)
            && self.names.len() < NAME_LIMIT
        {
            self.names.insert(alias, i);
        }
    }
}

/// Value caches shared by the tasks that encode one table, so that what one batch of records
/// computed serves the next: each task takes a cache from the pool and gives it back. Holds
/// tokens of non-identifying values only (see `GramCache`).
#[derive(Default)]
pub struct TokenCache {
    pool: std::sync::Mutex<Vec<GramCache>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

impl TokenCache {
    /// A cache from the pool (one filled by another encoder is emptied by
    /// [`Encoder::field`] before it answers anything).
    fn take(&self) -> GramCache {
        // A poisoned pool only means another task panicked; its caches are still valid.
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| GramCache::new(0))
    }

    fn give(&self, c: GramCache) {
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(c);
    }
}

/// Format a small value into a stack buffer (the date parts of every record would otherwise
/// allocate a string each).
struct Small {
    buf: [u8; 24],
    len: usize,
}

impl Small {
    fn of(args: std::fmt::Arguments<'_>) -> Small {
        use std::io::Write;
        let mut buf = [0u8; 24];
        let mut w: &mut [u8] = &mut buf;
        // Every caller formats at most 13 bytes; a failed write leaves a shorter value, which
        // cannot happen with these formats.
        let _ = w.write_fmt(args);
        let len = 24 - w.len();
        Small { buf, len }
    }

    /// `n` in decimal (as `n.to_string()`, without the formatting machinery, which cost more
    /// than the rest of a date's tokens).
    fn number(mut n: u32) -> Small {
        let mut buf = [0u8; 24];
        // u32::MAX has 10 digits: written from the end of the first 10 bytes, then moved down.
        let mut k = 10;
        loop {
            k -= 1;
            buf[k] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        buf.copy_within(k..10, 0);
        Small { buf, len: 10 - k }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// A multiplicative hash for the cache's integer keys (SipHash would cost as much as the
/// lookup saves; the keys are not attacker-chosen in a way that matters for a per-chunk cache).
#[derive(Default)]
pub(crate) struct MulHasher(u64);

impl std::hash::Hasher for MulHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Numbers the q-gram tokens of each field in the order they are first met (0, 1, 2, …), so
/// that a table can keep a record's q-grams as 16-bit numbers instead of 32-bit tokens: they
/// are the largest part of a table (32 per record in the Japanese layout, 26 of them the
/// address's), and real names and addresses have tens of thousands of distinct q-grams per
/// field, not billions. A field that passes 65,536 makes the tables it reaches store 32-bit
/// numbers from then on, so numbering never merges two q-grams.
///
/// Shared by everything one [`Encoder`] (and its clones) tokenises, so that the numbers of two
/// tables agree; a table records whose numbering it uses (`id`), and a comparator refuses two
/// tables numbered apart. Holds 32-bit token prefixes and counters only, never a value.
pub struct GramNumbers {
    id: u64,
    inner: std::sync::Mutex<NumbersInner>,
}

#[derive(Default)]
struct NumbersInner {
    /// (lane << 32 | token's low 32 bits) → number.
    numbers: std::collections::HashMap<u64, u32, std::hash::BuildHasherDefault<MulHasher>>,
    /// Next number per lane.
    next: Vec<u32>,
}

impl std::fmt::Debug for GramNumbers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GramNumbers({})", self.id)
    }
}

/// Distinct values [`GramNumbers`] is made to hold without growing: about what 200,000 Japanese
/// records have (75,000), so that their run fills one table of 2¹⁷ slots (2 MiB; pages of it
/// that no value reaches are never touched). Grown by doubling instead, it freed a table of 140 KiB,
/// then 280, 550 and 1,100 while the files were read, and glibc raises its threshold for
/// giving large blocks their own mapping to the size of each mapped block freed: the run's
/// later buffers then came from the heap and stayed there, and the peak of 100k × 100k moved
/// between 58 and 61 MiB from run to run (57–58 since). A small run pays for the pages its
/// values reach (2,000 × 2,000 records: 0.8 MiB more).
const NUMBERS_CAPACITY: usize = 100_000;

impl GramNumbers {
    fn new() -> Self {
        // Unique within the process, which is as far as tables are ever compared.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        GramNumbers {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            inner: std::sync::Mutex::new(NumbersInner {
                numbers: std::collections::HashMap::with_capacity_and_hasher(
                    NUMBERS_CAPACITY,
                    Default::default(),
                ),
                next: Vec::new(),
            }),
        }
    }

    /// The number of a token (its low 32 bits) in lane `f`: a field's q-grams are numbered in
    /// the lane of the field's index, a date's parts in [`part_lane`]s. Called only when a
    /// token cache misses, so the lock is taken a few times per distinct value.
    fn number(&self, f: usize, gram: u32) -> u32 {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let NumbersInner { numbers, next } = &mut *g;
        let k = (f as u64) << 32 | u64::from(gram);
        if let Some(&n) = numbers.get(&k) {
            return n;
        }
        if next.len() <= f {
            next.resize(f + 1, 0);
        }
        let n = next[f];
        // 2³² distinct q-grams of one field would not fit in memory first.
        next[f] = n.saturating_add(1);
        numbers.insert(k, n);
        n
    }
}

/// Turns normalised identities into tokens with the field keys of one linkage key.
#[derive(Debug, Clone)]
pub struct Encoder {
    schema: Schema,
    keys: Vec<FieldKey>,
    numbers: std::sync::Arc<GramNumbers>,
    places: std::sync::Arc<Places>,
    parts: std::sync::Arc<Parts>,
    pairs: std::sync::Arc<AsciiPairs>,
    shared: std::sync::Arc<SharedGrams>,
}

/// The number in a slot of [`Parts`] or [`AsciiPairs`] (`u32::MAX`: not yet), made by `make`
/// and stored the first time. Threads that race store the same number: [`GramNumbers`] gives
/// one per token.
#[inline]
fn numbered(slot: &std::sync::atomic::AtomicU32, make: impl FnOnce() -> u32) -> u32 {
    use std::sync::atomic::Ordering::Relaxed;
    match slot.load(Relaxed) {
        u32::MAX => {
            let x = make();
            slot.store(x, Relaxed);
            x
        }
        x => x,
    }
}

/// The numbers of q-grams of two ASCII characters (block numbers and their dashes, the ends of
/// an address, Latin names), per field, indexed by the two bytes: one table for all threads,
/// read without a lock like [`Parts`]. Half of an address's own q-grams are such pairs
/// (`1-`, `-1`, `15`, `4$`), and each was a memo probe that missed the core's cache as often as
/// not. A pair of characters is nobody's personal data.
struct AsciiPairs(Vec<std::sync::OnceLock<Box<[std::sync::atomic::AtomicU32]>>>);

impl AsciiPairs {
    fn new(fields: usize) -> Self {
        AsciiPairs((0..fields).map(|_| std::sync::OnceLock::new()).collect())
    }

    /// Field `f`'s table (u32::MAX: not numbered yet), made on first use.
    fn table(&self, f: usize) -> Option<&[std::sync::atomic::AtomicU32]> {
        let slot = self.0.get(f)?;
        Some(slot.get_or_init(|| {
            (0..128 * 128)
                .map(|_| std::sync::atomic::AtomicU32::new(u32::MAX))
                .collect()
        }))
    }
}

impl std::fmt::Debug for AsciiPairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsciiPairs")
    }
}

/// The numbers of q-grams of two characters by field, tag and characters, in one
/// open-addressing table for all threads, read and filled without a lock like [`Parts`].
/// Each encoding thread kept its own memo of them before: the same 75,000 q-grams of 200,000
/// Japanese records were then hashed once per thread (each a keyed hash and a locked
/// numbering) and held once per thread, and half of the lookups missed the small table in
/// front of each memo. A slot is one word, the key and its number together, so a lookup
/// misses the cache once. Values it cannot hold (other lengths, characters beyond the Basic
/// Multilingual Plane, numbers from 2²⁴ on) and new values once it is 7/8 full go to each
/// thread's [`GramCache`] memo as before. A q-gram is two characters: nobody's personal data.
struct SharedGrams {
    /// `key << 24 | number` (0: empty; [`PENDING`] as the number: the thread that took the
    /// slot is still making it).
    slots: Box<[std::sync::atomic::AtomicU64]>,
    used: std::sync::atomic::AtomicUsize,
}

/// Slots of [`SharedGrams`] (1 MiB).
const SHARED_SLOTS: usize = 1 << 17;

/// The number part of a slot whose number is not there yet.
const PENDING: u64 = (1 << 24) - 1;

impl SharedGrams {
    /// A table of `slots` slots (a power of two).
    fn new(slots: usize) -> Self {
        SharedGrams {
            slots: (0..slots.next_power_of_two())
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            used: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Keys the table takes before it counts as full: 7/8 of its slots, so that a probe
    /// stays short.
    fn limit(&self) -> usize {
        self.slots.len() / 8 * 7
    }

    /// The 40-bit key of a q-gram of field `f` under `tag`: field, tag and the two characters
    /// (`None` for anything else, or a field beyond the sixteenth).
    #[inline]
    fn key(f: usize, tag: Tag, gram: &str) -> Option<u64> {
        let mut cs = gram.chars();
        let (a, b) = (u64::from(cs.next()?), u64::from(cs.next()?));
        if cs.next().is_some() || a > 0xFFFF || b > 0xFFFF || f > 0xF {
            return None;
        }
        // The tag (1-11) makes every key non-zero.
        Some((f as u64) << 36 | (tag as u64) << 32 | a << 16 | b)
    }

    /// The number under key `k` (from [`SharedGrams::key`]), else `make()`'s, stored; `None`
    /// when `k` is not in the table and the table is full. Threads that race on one key both
    /// get the one number: `make` asks [`GramNumbers`], which gives one number per token.
    #[inline]
    fn get_or(&self, k: u64, make: impl FnOnce() -> u32) -> Option<u32> {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
        let mask = self.slots.len().saturating_sub(1);
        let mut i = home_slot(k, self.slots.len());
        loop {
            let slot = self.slots.get(i)?;
            let mut current = slot.load(Acquire);
            if current == 0 {
                if self.used.load(Relaxed) >= self.limit() {
                    return None;
                }
                match slot.compare_exchange(0, k << 24 | PENDING, AcqRel, Acquire) {
                    Ok(_) => {
                        self.used.fetch_add(1, Relaxed);
                        let n = make();
                        // A number too wide to share stays with whoever asks (each gets it
                        // from `make`).
                        if u64::from(n) < PENDING {
                            slot.store(k << 24 | u64::from(n), Release);
                        }
                        return Some(n);
                    }
                    Err(other) => current = other,
                }
            }
            if current >> 24 == k {
                return Some(match current & PENDING {
                    PENDING => make(),
                    n => n as u32,
                });
            }
            i = (i + 1) & mask;
        }
    }
}

impl std::fmt::Debug for SharedGrams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedGrams")
    }
}

impl Encoder {
    /// An encoder for a schema. 姓 and 名 share one key so that a swapped name is detectable.
    pub fn new(key: &LinkageKey, schema: Schema) -> Self {
        Self::with_shared_slots(key, schema, SHARED_SLOTS)
    }

    /// [`Encoder::new`] with a shared value table of `slots` slots (tests fill a small one).
    fn with_shared_slots(key: &LinkageKey, schema: Schema, slots: usize) -> Self {
        let keys = schema
            .fields
            .iter()
            .map(|f| match f {
                FieldKind::FamilyName | FieldKind::GivenName => key.field_key("name"),
                other => key.field_key(other.name()),
            })
            .collect();
        Encoder {
            keys,
            numbers: std::sync::Arc::new(GramNumbers::new()),
            places: std::sync::Arc::new(Places::new()),
            parts: std::sync::Arc::new(Parts::new(&schema)),
            pairs: std::sync::Arc::new(AsciiPairs::new(schema.fields.len())),
            shared: std::sync::Arc::new(SharedGrams::new(slots)),
            schema,
        }
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The number of a short value's token in lane `lane` (a q-gram's lane is its field's; see
    /// [`part_lane`] for the others): from the shared table, else the thread's memo.
    fn gram(&self, cache: &mut GramCache, f: usize, lane: usize, tag: Tag, gram: &str) -> u32 {
        let key = &self.keys[f];
        let number = || self.numbers.number(lane, key.token(tag, gram).short());
        SharedGrams::key(f, tag, gram)
            .and_then(|k| self.shared.get_or(k, number))
            .unwrap_or_else(|| cache.gram(f, lane, key, tag, gram, &self.numbers))
    }

    fn grams(&self, cache: &mut GramCache, f: usize, tag: Tag, value: &str, out: &mut Vec<u32>) {
        for_each_qgram(value, 2, |g| out.push(self.gram(cache, f, f, tag, g)));
    }

    /// The numbers of the q-grams (tag [`Tag::Gram`]) that [`for_each_bigram`] walks for
    /// `(first, rest, last)`.
    fn bigrams(
        &self,
        cache: &mut GramCache,
        f: usize,
        (first, rest, last): (char, &str, Option<char>),
        out: &mut Vec<u32>,
    ) {
        let key = &self.keys[f];
        let table = self.pairs.table(f);
        for_each_bigram(first, rest, last, |g| {
            let slot = match (g.as_bytes(), table) {
                (&[a, b], Some(t)) if a.is_ascii() && b.is_ascii() => {
                    t.get(usize::from(a) << 7 | usize::from(b))
                }
                _ => None,
            };
            let n = match slot {
                Some(slot) => numbered(slot, || {
                    self.numbers.number(f, key.token(Tag::Gram, g).short())
                }),
                None => self.gram(cache, f, f, Tag::Gram, g),
            };
            out.push(n);
        });
    }

    /// [`GramCache::gram`] of a date part or postal digit group, through [`Parts`] when it is
    /// a run of at most four ASCII digits.
    fn part(&self, cache: &mut GramCache, f: usize, lane: usize, tag: Tag, value: &str) -> u32 {
        let b = value.as_bytes();
        let table = (!b.is_empty() && b.len() <= 4 && b.iter().all(u8::is_ascii_digit))
            .then(|| self.parts.table(f, tag, b.len()))
            .flatten();
        let Some(table) = table else {
            return self.gram(cache, f, lane, tag, value);
        };
        // "02" and "2" are different values: the tables are per length.
        let n = b
            .iter()
            .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
        let Some(slot) = table.get(n) else {
            return self.gram(cache, f, lane, tag, value);
        };
        numbered(slot, || {
            self.numbers
                .number(lane, self.keys[f].token(tag, value).short())
        })
    }

    /// Tokens of every field of one identity.
    pub fn encode(&self, id: &Identity) -> Vec<FieldTokens> {
        let mut cache = GramCache::new(self.numbers.id);
        (0..self.schema.fields.len())
            .map(|f| {
                let mut t = FieldTokens::default();
                self.field(f, id, None, &mut t, &mut cache);
                t
            })
            .collect()
    }

    /// Tokens of field `f` of one identity, into `t` (cleared first; its q-gram buffer is
    /// reused, so encoding a table allocates nothing per record).
    fn field(
        &self,
        f: usize,
        id: &Identity,
        raw: Option<RawNames<'_>>,
        t: &mut FieldTokens,
        cache: &mut GramCache,
    ) {
        cache.claim(self);
        let (kind, key) = (&self.schema.fields[f], &self.keys[f]);
        t.whole = Token::NONE;
        t.alt = [Token::NONE; 4];
        t.grams.clear();
        match kind {
            FieldKind::FamilyName | FieldKind::GivenName => {
                let which = usize::from(*kind == FieldKind::GivenName);
                let raw_key = raw.map(|r| r.keys[which]);
                if let Some(r) = raw
                    && let Some(i) = r.found[which]
                    && r.generation == cache.name_generation
                    && cache.recall_at(i, t)
                {
                    // Remembered as a set already.
                    return;
                }
                // Skipped but no longer remembered (the memo was emptied at its limit by the
                // other name of this record): normalised now.
                let fresh;
                let n = match raw.filter(|r| r.skipped[which]) {
                    Some(r) => {
                        fresh = NamePart::of(r.raw, which);
                        &fresh
                    }
                    None if which == 0 => &id.family,
                    None => &id.given,
                };
                // A name given only in kana is its own written form.
                let written = if n.written.is_empty() {
                    &n.kana
                } else {
                    &n.written
                };
                let h = cache.name_hash(f, &n.written, &n.kana);
                if !cache.recall_name(h, t) {
                    t.whole = key.token(Tag::Whole, written);
                    t.alt[0] = key.token(Tag::Kana, &n.kana);
                    let ph_src = if n.kana.is_empty() { written } else { &n.kana };
                    t.alt[1] = key.token(Tag::Phonetic, &normalize::phonetic(ph_src));
                    self.grams(cache, f, Tag::Gram, ph_src, &mut t.grams);
                    if !n.kana.is_empty() && !n.written.is_empty() {
                        self.grams(cache, f, Tag::Part1, &n.written, &mut t.grams);
                    }
                    // Remembered as a set, so that a recalled name needs no sorting.
                    t.grams.sort_unstable();
                    t.grams.dedup();
                    cache.remember_name(h, t);
                }
                if let Some(k) = raw_key {
                    cache.alias_name(k, h);
                }
            }
            FieldKind::BirthDate => {
                if let Some(d) = id.birth_date {
                    let (y, m, dd) = (d.year(), d.month(), d.day());
                    let ys = match u32::try_from(y) {
                        Ok(y) => Small::number(y),
                        Err(_) => Small::of(format_args!("{y}")),
                    };
                    let (ms, ds) = (Small::number(m), Small::number(dd));
                    // Months and days share one numbering (and tag), so that a date read with
                    // day and month swapped is the same parts in the other order.
                    let mut part =
                        |tag, lane, v: &str| self.part(cache, f, part_lane(f, lane), tag, v);
                    let parts = DateParts {
                        year: part(Tag::Year, 0, ys.as_str()),
                        month: part(Tag::Day, 1, ms.as_str()),
                        day: part(Tag::Day, 1, ds.as_str()),
                    };
                    t.whole = Token::from_short(parts.pack());
                }
            }
            FieldKind::Sex => {
                if let Some(s) = id.sex {
                    t.whole = cache.token(f, key, Tag::Whole, s.as_str());
                }
            }
            FieldKind::PostalCode => {
                // Digits only (a parsed code, else the digits that were written).
                let s: &str = match &id.postal {
                    Some(p) => p.as_str(),
                    None => &id.postal_digits,
                };
                let mut part = |lane, tag, v: Option<&str>| match v {
                    Some(v) => 1 + self.part(cache, f, part_lane(f, lane), tag, v),
                    None => 0,
                };
                let p = PostalParts {
                    area: part(0, Tag::Part1, s.get(..3).filter(|_| s.len() > 3)),
                    district: part(1, Tag::Part2, s.get(3..5).filter(|_| s.len() > 5)),
                    rest: part(1, Tag::Part2, s.get(5..7).filter(|_| s.len() == 7)),
                };
                t.whole = match p.whole() {
                    Some(packed) => Token::from_short(packed),
                    None => {
                        let token = key.token(Tag::Whole, s);
                        if token.is_none() {
                            token
                        } else {
                            Token::from_short((token.short() & !PostalParts::PACKED).max(1))
                        }
                    }
                };
                t.alt[0] = Token::from_short(p.prefixes());
            }
            FieldKind::JpAddress => {
                if let Some(a) = &id.address {
                    // The municipality's token and the q-grams of the text up to its end are
                    // the same for every address of a directory municipality: they are made
                    // once per municipality (most of an address's q-grams).
                    let place = a
                        .place
                        .filter(|_| !a.municipality.is_empty())
                        .and_then(|m| self.places.0.get(m as usize))
                        .map(|slot| {
                            slot.get_or_init(|| {
                                let mut head = String::with_capacity(
                                    a.prefecture.len() + a.municipality.len() + 1,
                                );
                                head.push_str(&a.prefecture);
                                head.push('|');
                                head.push_str(&a.municipality);
                                let token = key.token(Tag::Part2, &head);
                                head.clear();
                                head.push_str(&a.prefecture);
                                head.push_str(&a.municipality);
                                let mut grams = Vec::new();
                                self.bigrams(cache, f, ('^', &head, None), &mut grams);
                                Place {
                                    token,
                                    grams: grams.into_boxed_slice(),
                                }
                            })
                        });
                    // One buffer grows muni → town → full; the tokens are taken on the way.
                    let s = &mut t.text;
                    s.clear();
                    s.push_str(&a.prefecture);
                    s.push('|');
                    s.push_str(&a.municipality);
                    if let Some(p) = place {
                        t.alt[1] = p.token;
                    } else if !a.municipality.is_empty() {
                        t.alt[1] = key.token(Tag::Part2, s);
                    }
                    s.push('|');
                    s.push_str(&a.town);
                    if !a.town.is_empty() {
                        t.alt[0] = key.token(Tag::Part1, s);
                    }
                    s.push('|');
                    s.push_str(&a.block);
                    t.whole = key.token(Tag::Whole, s);
                    s.clear();
                    match (place, a.municipality.chars().next_back()) {
                        (Some(p), Some(last)) => {
                            // The bigrams of the whole text are those of its head (without the
                            // end mark) and those from the head's last character on.
                            t.grams.extend_from_slice(&p.grams);
                            s.push_str(&a.town);
                            s.push_str(&a.block);
                            self.bigrams(cache, f, (last, s, Some('$')), &mut t.grams);
                        }
                        _ => {
                            for part in [&a.prefecture, &a.municipality, &a.town, &a.block] {
                                s.push_str(part);
                            }
                            self.grams(cache, f, Tag::Gram, s, &mut t.grams);
                        }
                    }
                }
            }
            FieldKind::Insurance => {
                let [insurer, symbol, number, _branch] = &id.insurance;
                if !number.is_empty() {
                    let s = &mut t.text;
                    for (tag, slot, parts) in [
                        (Tag::Part2, 1, [insurer, number]),
                        (Tag::Part3, 2, [symbol, number]),
                    ] {
                        if tag == Tag::Part3 && symbol.is_empty() {
                            continue;
                        }
                        s.clear();
                        s.push_str(parts[0]);
                        s.push('|');
                        s.push_str(parts[1]);
                        t.alt[slot] = key.token(tag, s);
                    }
                    // Insurer, symbol and number all agree exactly when both of these do (or
                    // the first does and neither has a symbol): the whole card's token is made
                    // from them, not keyed again (a fifth of the run's HMACs were these).
                    t.whole = Token::joint(t.alt[1], t.alt[2]);
                }
                t.alt[0] = cache.token(f, key, Tag::Part1, insurer);
            }
            FieldKind::Text(role) => {
                let v = id.text(*role);
                t.whole = key.token(Tag::Whole, v);
                if v.chars().any(|c| !c.is_ascii_digit()) {
                    t.alt[0] = key.token(Tag::Phonetic, &normalize::phonetic(v));
                }
                // A phone number is compared whole: a typo in it is another number.
                if *role != Role::Phone {
                    self.grams(cache, f, Tag::Gram, v, &mut t.grams);
                }
            }
        }
        t.grams.sort_unstable();
        t.grams.dedup();
    }
}

/// Variant tokens a field of this kind uses (the encoder leaves the others empty, so they are
/// not stored).
fn alt_slots(kind: FieldKind) -> usize {
    match kind {
        FieldKind::FamilyName | FieldKind::GivenName => 2,
        // The whole date is its packed parts, which also give the swapped date and each part
        // (see [`DateParts`]).
        FieldKind::BirthDate => 0,
        FieldKind::Sex => 0,
        // The 3- and 5-digit prefixes packed into one slot (see [`PostalParts`]).
        FieldKind::PostalCode => 1,
        FieldKind::JpAddress => 2,
        FieldKind::Insurance => 3,
        FieldKind::Text(Role::Phone) => 0,
        FieldKind::Text(_) => 1,
    }
}

/// Whether a field of this kind has q-gram tokens.
fn has_grams(kind: FieldKind) -> bool {
    match kind {
        FieldKind::FamilyName | FieldKind::GivenName | FieldKind::JpAddress => true,
        FieldKind::Text(r) => r != Role::Phone,
        _ => false,
    }
}

/// The [`GramNumbers`] lane of part `part` of field `f` (a date's year, or its months and days;
/// a postal code's area, or its two-digit groups): lanes below 256 are the fields' own
/// (q-grams), so these start above them.
fn part_lane(f: usize, part: usize) -> usize {
    (part + 1) << 8 | f
}

/// A postal code's digits as numbers of short tokens ([`GramNumbers`]: the 3-digit area in one
/// lane, the two-digit groups after it in another): a 7-digit code is packed whole into its
/// slot (flag bit 31, area, the 4th–5th and the 6th–7th digits), so it costs no keyed hash of
/// its own; any other run of digits keeps its keyed token, flag bit clear, so the two never
/// meet. A second slot holds the area and the 5-digit prefix for every code, which is what
/// comparison asks of them besides equality.
///
/// Widths: at most 1,000 areas (10 bits with the 0 of "missing") and 100 two-digit groups
/// (7 bits), so packing never saturates.
#[derive(Debug, Clone, Copy)]
struct PostalParts {
    area: u32,
    district: u32,
    rest: u32,
}

impl PostalParts {
    /// Bit 31: the whole slot is packed parts, not a token.
    const PACKED: u32 = 1 << 31;

    /// The packed whole code (numbers plus one; `None` unless all three parts are there).
    fn whole(self) -> Option<u32> {
        (self.area > 0 && self.district > 0 && self.rest > 0).then(|| {
            Self::PACKED
                | self.area.min(1023)
                | self.district.min(127) << 10
                | self.rest.min(127) << 17
        })
    }

    /// Area and 5-digit prefix (the district is missing when the prefix is).
    fn prefixes(self) -> u32 {
        self.area.min(1023) | self.district.min(127) << 10
    }

    /// The variants of a postal code's prefixes slot: the area and the 5-digit prefix, each
    /// [`Token::NONE`] when missing and otherwise equal exactly when the prefixes are.
    #[inline]
    fn unpack(prefixes: u32) -> [Token; 4] {
        let area = prefixes & 1023;
        let five = if prefixes >> 10 != 0 { prefixes } else { 0 };
        [
            Token::from_short(area),
            Token::from_short(five),
            Token::NONE,
            Token::NONE,
        ]
    }
}

/// A birth date as its year's, month's and day's tokens' numbers ([`GramNumbers`]: years in
/// one lane, months and days in another, numbered alike), in one 32-bit slot that stands for
/// the whole date, the date with day and month swapped and each part: comparison, blocking and
/// term frequencies only ask whether two records' dates (years, months, days) are the same,
/// which the numbers answer exactly — numbering never merges two tokens. A date then costs one
/// slot instead of five tokens, and no keyed hash of its own (its parts' tokens are cached).
///
/// The widths hold every number that can occur, so packing never saturates: a parsed year lies
/// in 1000..=262143 (chrono's range), fewer than 2¹⁸ values; months and days are 31 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DateParts {
    year: u32,
    month: u32,
    day: u32,
}

impl DateParts {
    const YEAR_BITS: u32 = 18;
    const MONTH_BITS: u32 = 5;
    const DAY_BITS: u32 = 5;

    /// The packed slot: each part's number plus one (0 stays "missing"), year in the low bits.
    fn pack(self) -> u32 {
        let field = |n: u32, bits: u32| n.saturating_add(1).min((1 << bits) - 1);
        field(self.year, Self::YEAR_BITS)
            | field(self.month, Self::MONTH_BITS) << Self::YEAR_BITS
            | field(self.day, Self::DAY_BITS) << (Self::YEAR_BITS + Self::MONTH_BITS)
    }

    /// The variants of a packed date for comparison and blocking: the date with day and month
    /// swapped (missing when they are the same), year, month, day — each [`Token::NONE`] when
    /// missing and otherwise equal exactly when the parts are.
    #[inline]
    fn unpack(packed: u32) -> [Token; 4] {
        let part = |shift: u32, bits: u32| (packed >> shift) & ((1 << bits) - 1);
        let year = part(0, Self::YEAR_BITS);
        let month = part(Self::YEAR_BITS, Self::MONTH_BITS);
        let day = part(Self::YEAR_BITS + Self::MONTH_BITS, Self::DAY_BITS);
        let swapped = if packed != 0 && month != day {
            year | day << Self::YEAR_BITS | month << (Self::YEAR_BITS + Self::MONTH_BITS)
        } else {
            0
        };
        [swapped, year, month, day].map(Token::from_short)
    }
}

/// Free a vector's unused capacity when it is more than a sixteenth of its length (see
/// [`TokenTable::shrink_to_fit`]).
fn shrink_slack<T>(v: &mut Vec<T>) {
    if v.capacity() - v.len() > v.len() / 16 {
        v.shrink_to_fit();
    }
}

/// Numbers kept in a narrow type `N` (one or two bytes) while every one fits, widened once to
/// 32 bits by the first that does not: the numbers stay the same, only their width changes.
#[derive(Clone)]
enum Widening<N> {
    Narrow(Vec<N>),
    Wide(Vec<u32>),
}

impl<N: Copy + Into<u32> + TryFrom<u32>> Widening<N> {
    fn new() -> Self {
        Widening::Narrow(Vec::new())
    }

    fn len(&self) -> usize {
        match self {
            Widening::Narrow(v) => v.len(),
            Widening::Wide(v) => v.len(),
        }
    }

    fn get(&self, k: usize) -> Option<u32> {
        match self {
            Widening::Narrow(v) => v.get(k).map(|&x| x.into()),
            Widening::Wide(v) => v.get(k).copied(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Widening::Narrow(v) => v.capacity() * std::mem::size_of::<N>(),
            Widening::Wide(v) => v.capacity() * 4,
        }
    }

    fn reserve_exact(&mut self, n: usize) {
        match self {
            Widening::Narrow(v) => v.reserve_exact(n),
            Widening::Wide(v) => v.reserve_exact(n),
        }
    }

    fn shrink(&mut self) {
        match self {
            Widening::Narrow(v) => shrink_slack(v),
            Widening::Wide(v) => shrink_slack(v),
        }
    }

    fn extend(&mut self, numbers: &[u32]) {
        if let Widening::Narrow(v) = self {
            let before = v.len();
            for &n in numbers {
                match N::try_from(n) {
                    Ok(x) => v.push(x),
                    Err(_) => break,
                }
            }
            if v.len() - before == numbers.len() {
                return;
            }
            v.truncate(before);
            let mut wide = Vec::with_capacity(v.capacity().max(v.len() + numbers.len()));
            wide.extend(v.iter().map(|&n| n.into()));
            *self = Widening::Wide(wide);
        }
        if let Widening::Wide(v) = self {
            v.extend_from_slice(numbers);
        }
    }
}

/// Where each record's q-grams of each field lie in a table's q-gram store: the start of the
/// record's run (4 bytes) and, inside the run, where each q-gram field but the last ends (a
/// byte each while every such count fits, 4 bytes from the first that does not) — 6 bytes a
/// record for the three q-gram fields of the Japanese layout instead of 12 for an offset per
/// field.
#[derive(Clone)]
struct GramBounds {
    /// Q-gram fields per record.
    ng: usize,
    /// Start of each record's run, and the end of the last (`len + 1` entries).
    starts: Vec<u32>,
    /// Per record, `ng - 1` ends of fields relative to the record's start.
    splits: Widening<u8>,
}

impl GramBounds {
    fn new(ng: usize) -> GramBounds {
        GramBounds {
            ng,
            starts: vec![0],
            splits: Widening::new(),
        }
    }

    /// Append a record with `counts[g]` q-grams in field `g`.
    fn push(&mut self, counts: &[u32]) {
        let start = self.starts.last().copied().unwrap_or(0);
        let mut within = 0u32;
        for (g, &c) in counts.iter().enumerate() {
            within = within.saturating_add(c);
            if g + 1 < self.ng {
                self.splits.extend(&[within]);
            }
        }
        // A table past 2³² q-grams (some 16 GiB of them) would need wider starts; it cannot be
        // built in memory first.
        self.starts.push(start.saturating_add(within));
    }

    /// The range of record `i`'s q-grams of q-gram field `g`.
    #[inline]
    fn range(&self, i: usize, g: usize) -> (usize, usize) {
        let start = self.starts.get(i).map_or(0, |&s| s as usize);
        let split = |k: usize| start + self.splits.get(k).map_or(0, |x| x as usize);
        let base = i * self.ng.saturating_sub(1);
        let lo = if g == 0 { start } else { split(base + g - 1) };
        let hi = if g + 1 >= self.ng {
            self.starts.get(i + 1).map_or(start, |&s| s as usize)
        } else {
            split(base + g)
        };
        (lo, hi.max(lo))
    }

    fn reserve(&mut self, records: usize) {
        self.starts.reserve_exact(records);
        self.splits
            .reserve_exact(records * self.ng.saturating_sub(1));
    }

    fn shrink(&mut self) {
        shrink_slack(&mut self.starts);
        self.splits.shrink();
    }

    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 4 + self.splits.heap_bytes()
    }
}

/// The q-grams of all records of a table, as numbers in the encoder's [`GramNumbers`]: 16 bits
/// each while every number fits, 32 from the first that does not (the numbers stay the same, so
/// a table of each width still compare with each other).
type GramStore = Widening<u16>;

impl GramStore {
    #[inline]
    fn slice(&self, lo: usize, hi: usize) -> Grams<'_> {
        match self {
            Widening::Narrow(v) => Grams::Narrow(v.get(lo..hi).unwrap_or(&[])),
            Widening::Wide(v) => Grams::Wide(v.get(lo..hi).unwrap_or(&[])),
        }
    }
}

/// The q-grams of one field of one record: sorted, distinct numbers.
#[derive(Debug, Clone, Copy)]
pub enum Grams<'a> {
    /// Numbers of a table whose numbers all fit in 16 bits.
    Narrow(&'a [u16]),
    /// Numbers of a table that has passed 65,536 q-grams in a field.
    Wide(&'a [u32]),
}

impl Grams<'_> {
    /// Number of q-grams.
    pub fn len(&self) -> usize {
        match self {
            Grams::Narrow(v) => v.len(),
            Grams::Wide(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Dice coefficient with `other` if it is at least `min`, else 0
    /// (see [`crate::compare::dice_at_least`]).
    #[inline]
    pub fn dice_at_least(self, other: Grams<'_>, min: f64) -> f64 {
        use crate::compare::dice_at_least;
        match (self, other) {
            (Grams::Narrow(a), Grams::Narrow(b)) => dice_at_least(a, b, min),
            (Grams::Wide(a), Grams::Wide(b)) => dice_at_least(a, b, min),
            // Only when one of the two tables has widened: rare enough to copy.
            (Grams::Narrow(a), Grams::Wide(b)) => {
                let a: Vec<u32> = a.iter().map(|&n| u32::from(n)).collect();
                dice_at_least(&a, b, min)
            }
            (Grams::Wide(a), Grams::Narrow(b)) => {
                let b: Vec<u32> = b.iter().map(|&n| u32::from(n)).collect();
                dice_at_least(a, &b, min)
            }
        }
    }
}

/// Where one field lives in a row.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// First token of the field in the row.
    base: usize,
    /// Variant tokens stored after the whole value.
    alts: usize,
    /// Index among the fields that have q-grams.
    gram: Option<usize>,
    /// Where the variants come from when they are packed.
    packed: Packed,
}

/// Fields whose variants are numbers packed into a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packed {
    No,
    /// The whole value is a [`DateParts`].
    Date,
    /// The one variant slot is [`PostalParts::prefixes`].
    Postal,
}

/// One field of a [`TokenTable`], viewed across records.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    table: &'a TokenTable,
    slot: Slot,
}

impl<'a> Column<'a> {
    /// Whole-value token of a record.
    #[inline]
    pub fn whole(&self, i: usize) -> Token {
        Token::from_short(self.table.rows[i * self.table.stride + self.slot.base])
    }

    /// Variant tokens of a record (those the field's kind does not use are empty).
    // Always inlined: it is called for every field of every compared pair, and inlined into
    // the comparison of one kind the match on `packed` folds away.
    #[inline(always)]
    pub fn alt(&self, i: usize) -> [Token; 4] {
        let s = i * self.table.stride + self.slot.base + 1;
        let mut out = [Token::NONE; 4];
        match self.slot.packed {
            Packed::No => {}
            Packed::Date => return DateParts::unpack(self.table.rows[s - 1]),
            Packed::Postal => return PostalParts::unpack(self.table.rows[s]),
        }
        let row = &self.table.rows[s..s + self.slot.alts];
        for (o, &x) in out.iter_mut().zip(row) {
            *o = Token::from_short(x);
        }
        out
    }

    /// Sorted, de-duplicated q-gram numbers of a record.
    #[inline]
    pub fn grams(&self, i: usize) -> Grams<'a> {
        let Some(g) = self.slot.gram else {
            return Grams::Narrow(&[]);
        };
        let (lo, hi) = self.table.bounds.range(i, g);
        self.table.grams.slice(lo, hi)
    }
}

/// Tokenised records: what the linker works on. Holds no plaintext.
///
/// Stored row by row (all tokens of a record next to each other, q-grams in one run per
/// record), because comparison reads whole records of random pairs: one record costs a few
/// cache lines instead of several misses per field. Only the tokens a field's kind uses are
/// stored (a birth date and a 7-digit postal code as numbers packed into slots, see
/// `DateParts` and `PostalParts`), so a row of the Japanese layout is 18 slots.
///
/// Each token is kept as its low 32 bits ([`Token::short`]), as q-grams are: in a table a token
/// is only ever tested for equality with the same field's token of the other record of a pair,
/// hashed into a blocking key, or counted for term frequencies. Two different values then agree
/// by chance with probability 2⁻³² per comparison (one such agreement in about three hundred
/// runs of 100k × 100k, which compare 1.8 million pairs on eight fields), a chance shared blocking key only adds a candidate
/// pair that the comparison rejects, and a merged term-frequency count touches a value only when
/// it collides with another (n/2³², 0.02 % of values for a million distinct ones). Against that,
/// the rows take half the memory and twice as many records fit in cache.
#[derive(Clone)]
pub struct TokenTable {
    schema: Schema,
    slots: Vec<Slot>,
    stride: usize,
    ng: usize,
    rows: Vec<u32>,
    bounds: GramBounds,
    grams: GramStore,
    /// The [`GramNumbers`] whose numbers `grams` holds.
    numbering: u64,
    len: usize,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens in hexadecimal, as `Token` prints them.
        write!(f, "TokenTable {{ schema: {:?}, rows: [", self.schema)?;
        for t in &self.rows {
            write!(f, "{t:08x},")?;
        }
        f.write_str("], grams: [")?;
        let all = self.grams.slice(0, self.grams.len());
        match all {
            Grams::Narrow(v) => v.iter().try_for_each(|g| write!(f, "{g},"))?,
            Grams::Wide(v) => v.iter().try_for_each(|g| write!(f, "{g},"))?,
        }
        f.write_str("] }")
    }
}

/// Records one encoding task takes (small enough to spread a batch over the cores).
const ENCODE_CHUNK: usize = 256;

/// Tokens of consecutive records, made apart and appended to a table in order.
#[derive(Default)]
struct Part {
    rows: Vec<u32>,
    /// Q-gram numbers.
    grams: Vec<u32>,
    /// Number of grams per record and gram field.
    counts: Vec<u32>,
    /// Records in the part.
    records: usize,
}

impl TokenTable {
    /// An empty table for what `encoder` tokenises.
    pub fn new(encoder: &Encoder) -> TokenTable {
        let schema = encoder.schema().clone();
        let mut slots = Vec::with_capacity(schema.fields.len());
        let (mut base, mut ng) = (0, 0);
        for &kind in &schema.fields {
            let alts = alt_slots(kind);
            let gram = has_grams(kind).then(|| {
                ng += 1;
                ng - 1
            });
            let packed = match kind {
                FieldKind::BirthDate => Packed::Date,
                FieldKind::PostalCode => Packed::Postal,
                _ => Packed::No,
            };
            slots.push(Slot {
                base,
                alts,
                gram,
                packed,
            });
            base += 1 + alts;
        }
        TokenTable {
            schema,
            slots,
            stride: base,
            ng,
            rows: Vec::new(),
            bounds: GramBounds::new(ng),
            grams: GramStore::new(),
            numbering: encoder.numbers.id,
            len: 0,
        }
    }

    /// Encode identities (in parallel).
    pub fn encode(encoder: &Encoder, identities: &[Identity]) -> TokenTable {
        let mut t = TokenTable::new(encoder);
        t.push_identities(encoder, identities);
        t
    }

    /// Make room for `additional` more records of about `grams_per_record` q-grams each.
    pub fn reserve(&mut self, additional: usize, grams_per_record: usize) {
        self.rows.reserve_exact(additional * self.stride);
        self.bounds.reserve(additional);
        self.grams.reserve_exact(additional * grams_per_record);
    }

    /// Average number of q-grams per record so far (for [`TokenTable::reserve`]).
    pub fn grams_per_record(&self) -> usize {
        self.grams.len().div_ceil(self.len.max(1))
    }

    /// Free unused capacity when it is more than a few percent: shrinking may copy the
    /// vector (allocators other than glibc's cannot always shrink in place), and a copy of
    /// the largest vectors at the end of reading would raise the peak it is meant to lower.
    pub fn shrink_to_fit(&mut self) {
        shrink_slack(&mut self.rows);
        self.bounds.shrink();
        self.grams.shrink();
    }

    /// Encode identities (in parallel) and append them.
    pub fn push_identities(&mut self, encoder: &Encoder, identities: &[Identity]) {
        let cache = TokenCache::default();
        let parts: Vec<Part> = identities
            .par_chunks(ENCODE_CHUNK)
            .map(|chunk| {
                let mut part = Part::default();
                let mut scratch = FieldTokens::default();
                // The same q-grams recur across records (kana syllables, place names): their
                // tokens are remembered while the table is encoded.
                let mut c = cache.take();
                for id in chunk {
                    self.encode_row(encoder, id, None, &mut scratch, &mut c, &mut part);
                }
                cache.give(c);
                part.records = chunk.len();
                part
            })
            .collect();
        for p in parts {
            self.append(p);
        }
    }

    /// Normalise and encode raw records (in parallel, each record's plaintext dropped as soon
    /// as it is encoded) and append them; `cache` carries token caches from one call to the
    /// next. Returns, per role (indexed by [`Role::index`]), how many values could not be
    /// parsed and became missing.
    pub fn push_raw(
        &mut self,
        encoder: &Encoder,
        raws: &[RawRecord],
        cache: &TokenCache,
    ) -> [u64; Role::ALL.len()] {
        let parts: Vec<(Part, [u64; Role::ALL.len()])> = raws
            .par_chunks(ENCODE_CHUNK)
            .map(|chunk| {
                let mut part = Part::default();
                let mut bad = [0u64; Role::ALL.len()];
                let mut scratch = FieldTokens::default();
                let mut c = cache.take();
                let mut id = Identity::default();
                for raw in chunk {
                    c.claim(encoder);
                    let names = c.raw_names(raw);
                    let invalid = id.normalise_into(raw, names.skipped);
                    for r in invalid {
                        bad[r.index()] += 1;
                    }
                    self.encode_row(encoder, &id, Some(names), &mut scratch, &mut c, &mut part);
                }
                cache.give(c);
                part.records = chunk.len();
                (part, bad)
            })
            .collect();
        let mut bad = [0u64; Role::ALL.len()];
        for (p, b) in parts {
            self.append(p);
            for (t, x) in bad.iter_mut().zip(b) {
                *t += x;
            }
        }
        bad
    }

    fn encode_row(
        &self,
        encoder: &Encoder,
        id: &Identity,
        raw: Option<RawNames<'_>>,
        t: &mut FieldTokens,
        cache: &mut GramCache,
        part: &mut Part,
    ) {
        for (f, slot) in self.slots.iter().enumerate() {
            encoder.field(f, id, raw, t, cache);
            part.rows.push(t.whole.short());
            part.rows
                .extend(t.alt[..slot.alts].iter().map(|a| a.short()));
            if slot.gram.is_some() {
                // Already a set: numbers are per distinct token prefix.
                part.grams.extend_from_slice(&t.grams);
                part.counts.push(t.grams.len() as u32);
            }
        }
    }

    fn append(&mut self, p: Part) {
        self.rows.extend_from_slice(&p.rows);
        for counts in p.counts.chunks(self.ng.max(1)).take(p.records) {
            self.bounds.push(counts);
        }
        self.grams.extend(&p.grams);
        self.len += p.records;
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

    /// Whether `other`'s q-grams are numbered as this table's (both were tokenised by one
    /// encoder or its clones), so that their q-grams can be compared.
    pub fn same_numbering(&self, other: &TokenTable) -> bool {
        self.numbering == other.numbering
    }

    /// Read a word of each cache line that comparing record `i` will read first (its row, where
    /// its q-grams start and end, their first line), and return them combined. Comparing
    /// candidate pairs in table order is bound by the latency of these loads, one pair after
    /// another; touching a group of pairs' records first lets their misses overlap (the
    /// workspace forbids `unsafe`, which a prefetch intrinsic would need).
    #[inline]
    pub fn touch(&self, i: usize) -> u32 {
        let row = i * self.stride;
        let first = self.rows.get(row).copied().unwrap_or(0);
        let last = self
            .rows
            .get(row + self.stride.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let (lo, _) = self.bounds.range(i, 0);
        let gram = match &self.grams {
            Widening::Narrow(v) => v.get(lo).map_or(0, |&x| u32::from(x)),
            Widening::Wide(v) => v.get(lo).copied().unwrap_or(0),
        };
        first ^ last ^ gram
    }

    /// One field's tokens across records.
    #[inline]
    pub fn column(&self, field: usize) -> Column<'_> {
        Column {
            table: self,
            slot: self.slots[field],
        }
    }

    /// Bytes held by the table (for reports).
    pub fn heap_bytes(&self) -> usize {
        self.rows.capacity() * 4 + self.bounds.heap_bytes() + self.grams.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Record starts and one-byte splits give each field's q-grams where cumulative
        /// offsets would, before and after a count too large for a byte widens them.
        #[test]
        fn gram_bounds_match_offsets(
            ng in 1usize..4,
            counts in proptest::collection::vec(proptest::sample::select(vec![0u32, 1, 7, 200, 300]), 0..40)
        ) {
            let records: Vec<&[u32]> = counts.chunks_exact(ng).collect();
            let mut bounds = GramBounds::new(ng);
            let mut offsets = vec![0usize];
            for r in &records {
                bounds.push(r);
                for &c in *r {
                    offsets.push(offsets.last().copied().unwrap_or(0) + c as usize);
                }
            }
            for i in 0..records.len() {
                for g in 0..ng {
                    let k = i * ng + g;
                    proptest::prop_assert_eq!(bounds.range(i, g), (offsets[k], offsets[k + 1]));
                }
            }
        }

        /// The hand-written digits are `to_string`'s.
        #[test]
        fn small_numbers_are_formatted(y in -300_000i32..300_000, m in 0u32..100, d in 0u32..u32::MAX) {
            let (year, n, m2) = (Small::number(y.unsigned_abs()), Small::number(d), Small::number(m));
            proptest::prop_assert_eq!(year.as_str(), y.unsigned_abs().to_string());
            proptest::prop_assert_eq!(n.as_str(), d.to_string());
            proptest::prop_assert_eq!(m2.as_str(), m.to_string());
            let max = Small::number(u32::MAX);
            proptest::prop_assert_eq!(max.as_str(), u32::MAX.to_string());
        }

        /// A name's tokens recalled from the cache are those computed afresh, whatever the mix
        /// of written forms, readings, missing parts and repeats.
        #[test]
        fn remembered_names_match_fresh_tokens(
            names in proptest::collection::vec(
                (proptest::sample::select(vec!["", "佐藤", "齋藤", "Sato", "佐 藤", "斎藤"]),
                 proptest::sample::select(vec!["", "サトウ", "サイトウ", "ｻﾄｳ", "さとう"]),
                 proptest::sample::select(vec!["", "花子", "はなこ", "佐藤"]),
                 proptest::sample::select(vec!["", "ハナコ", "ハナ", "サトウ"])),
                1..40)
        ) {
            let key = LinkageKey::from_bytes([9; 32]);
            let enc = Encoder::new(&key, Schema::from_roles(|r| matches!(
                r,
                Role::FamilyName | Role::FamilyNameKana | Role::GivenName | Role::GivenNameKana
            )));
            let mut cache = GramCache::new(0);
            let mut raw_cache = GramCache::new(0);
            for (fw, fk, gw, gk) in names {
                let mut raw = RawRecord::default();
                raw.set(Role::FamilyName, fw);
                raw.set(Role::FamilyNameKana, fk);
                raw.set(Role::GivenName, gw);
                raw.set(Role::GivenNameKana, gk);
                let id = Identity::normalise(&raw).0;
                // As a table is encoded: names met before (as read) are not normalised again.
                raw_cache.claim(&enc);
                let names = raw_cache.raw_names(&raw);
                let partial = Identity::normalise_with(&raw, names.skipped).0;
                for f in 0..enc.schema().fields.len() {
                    let (mut a, mut b, mut c) =
                        (FieldTokens::default(), FieldTokens::default(), FieldTokens::default());
                    enc.field(f, &id, None, &mut a, &mut cache);
                    enc.field(f, &id, None, &mut b, &mut GramCache::new(0));
                    enc.field(f, &partial, Some(names), &mut c, &mut raw_cache);
                    proptest::prop_assert_eq!((a.whole, a.alt, &a.grams), (b.whole, b.alt, &b.grams));
                    proptest::prop_assert_eq!((c.whole, c.alt, &c.grams), (b.whole, b.alt, &b.grams));
                }
            }
        }

        /// An address's tokens are the same whether its municipality's part is made and
        /// remembered, recalled, or computed without the directory entry, with a warm or a
        /// fresh gram cache.
        #[test]
        fn remembered_places_match_fresh_tokens(
            addresses in proptest::collection::vec(
                (proptest::sample::select(vec![
                    "東京都千代田区千代田1-1",
                    "千代田区丸の内二丁目3番",
                    "東京都千代田区",
                    "東京都千代田区千代田",
                    "北海道当別町弥生１２３",
                    "北海道石狩郡当別町",
                    "大阪大阪市北区梅田３丁目１－１",
                    "どこか遠く1-2",
                    "1-2-3",
                ]),
                 proptest::sample::select(vec!["", "1000001", "5300001"])),
                1..30)
        ) {
            let key = LinkageKey::from_bytes([7; 32]);
            let enc = Encoder::new(&key, Schema::from_roles(|r| matches!(r, Role::Address | Role::PostalCode)));
            let f = enc.schema().position(FieldKind::JpAddress).unwrap();
            let mut cache = GramCache::new(0);
            for (text, postal) in addresses {
                let mut raw = RawRecord::default();
                raw.set(Role::Address, text);
                raw.set(Role::PostalCode, postal);
                let id = Identity::normalise(&raw).0;
                let mut plain = id.clone();
                if let Some(a) = &mut plain.address {
                    a.place = None;
                }
                let (mut a, mut b, mut c) =
                    (FieldTokens::default(), FieldTokens::default(), FieldTokens::default());
                enc.field(f, &id, None, &mut a, &mut cache);
                enc.field(f, &id, None, &mut b, &mut GramCache::new(0));
                enc.field(f, &plain, None, &mut c, &mut GramCache::new(0));
                proptest::prop_assert_eq!((a.whole, a.alt, &a.grams), (b.whole, b.alt, &b.grams));
                proptest::prop_assert_eq!((a.whole, a.alt, &a.grams), (c.whole, c.alt, &c.grams));
            }
        }

        /// A date part's or postal digit group's number from the shared digit tables is the
        /// one the gram cache gives the same value, whichever is asked first, with leading
        /// zeros ("02" is not "2") and for runs too long or not digits for a table.
        #[test]
        fn digit_tables_number_runs_as_the_cache_does(
            asks in proptest::collection::vec(
                (0usize..4, "[0-9]{1,6}|[0-9０-９a]{1,3}", proptest::bool::ANY),
                1..60)
        ) {
            let key = LinkageKey::from_bytes([3; 32]);
            let enc = Encoder::new(
                &key,
                Schema::from_roles(|r| matches!(r, Role::BirthDate | Role::PostalCode)),
            );
            let d = enc.schema().position(FieldKind::BirthDate).unwrap();
            let p = enc.schema().position(FieldKind::PostalCode).unwrap();
            let wheres = [(d, 0, Tag::Year), (d, 1, Tag::Day), (p, 0, Tag::Part1), (p, 1, Tag::Part2)];
            let mut cache = GramCache::new(enc.numbers.id);
            for (w, v, table_first) in asks {
                let (f, lane, tag) = wheres[w];
                let lane = part_lane(f, lane);
                let mut fresh = GramCache::new(enc.numbers.id);
                let (a, b) = if table_first {
                    let a = enc.part(&mut cache, f, lane, tag, &v);
                    (a, fresh.gram(f, lane, &enc.keys[f], tag, &v, &enc.numbers))
                } else {
                    let b = fresh.gram(f, lane, &enc.keys[f], tag, &v, &enc.numbers);
                    (enc.part(&mut cache, f, lane, tag, &v), b)
                };
                proptest::prop_assert_eq!(a, b, "{:?} {}", tag, v);
            }
        }

        /// A date's packed year, month and day read back as a whole, a swapped date and parts
        /// that agree exactly when the dates (the date read day-first, the parts) do, at the
        /// ends of the year range too, and are missing with the date.
        #[test]
        fn date_parts_agree_exactly_when_the_parts_do(
            dates in proptest::collection::vec(
                proptest::option::of((
                    proptest::sample::select(vec![1000, 1868, 1926, 1989, 2019, 9999, 262_142]),
                    1u32..=12,
                    proptest::sample::select(vec![1u32, 2, 3, 12, 13, 28]),
                )),
                1..30)
        ) {
            let key = LinkageKey::from_bytes([5; 32]);
            let enc = Encoder::new(&key, Schema::from_roles(|r| r == Role::BirthDate));
            let dates: Vec<Option<NaiveDate>> = dates
                .into_iter()
                .map(|d| d.and_then(|(y, m, dd)| NaiveDate::from_ymd_opt(y, m, dd)))
                .collect();
            let ids: Vec<Identity> = dates
                .iter()
                .map(|&birth_date| Identity { birth_date, ..Identity::default() })
                .collect();
            let table = TokenTable::encode(&enc, &ids);
            let col = table.column(0);
            let part = |d: NaiveDate, k: usize| [d.year() as u32, d.month(), d.day()][k];
            for (i, a) in dates.iter().enumerate() {
                for (j, b) in dates.iter().enumerate() {
                    let (x, y) = (col.alt(i), col.alt(j));
                    for k in 0..3 {
                        proptest::prop_assert_eq!(x[k + 1].is_none(), a.is_none());
                        if let (Some(a), Some(b)) = (a, b) {
                            proptest::prop_assert_eq!(x[k + 1] == y[k + 1], part(*a, k) == part(*b, k));
                        }
                    }
                    proptest::prop_assert_eq!(col.whole(i).is_none(), a.is_none());
                    if let (Some(a), Some(b)) = (a, b) {
                        proptest::prop_assert_eq!(col.whole(i) == col.whole(j), a == b);
                        // The swapped date is `b` exactly when `b` is `a` read day-first.
                        let read_swapped = a.month() != a.day()
                            && NaiveDate::from_ymd_opt(a.year(), a.day(), a.month()) == Some(*b);
                        proptest::prop_assert_eq!(x[0].is_some() && x[0] == col.whole(j), read_swapped);
                    }
                }
            }
        }

        /// A postal code's whole value, area and 5-digit prefix agree exactly when the digits
        /// (their first 3, their first 5) do, for 7-digit codes packed and other runs of
        /// digits as tokens alike, and are missing when the digits are too few.
        #[test]
        fn postal_parts_agree_exactly_when_the_digits_do(
            codes in proptest::collection::vec(
                proptest::sample::select(vec![
                    "", "1", "12", "123", "1234", "12345", "123456", "1234567", "1234568",
                    "1235567", "9234567", "12345678", "0600000", "0600001", "060",
                ]),
                1..20)
        ) {
            let key = LinkageKey::from_bytes([6; 32]);
            let enc = Encoder::new(&key, Schema::from_roles(|r| r == Role::PostalCode));
            let ids: Vec<Identity> = codes
                .iter()
                .map(|c| Identity { postal_digits: (*c).to_owned(), ..Identity::default() })
                .collect();
            let table = TokenTable::encode(&enc, &ids);
            let col = table.column(0);
            let prefix = |c: &str, n: usize| (c.len() > n).then(|| c[..n].to_owned());
            for (i, a) in codes.iter().enumerate() {
                proptest::prop_assert_eq!(col.whole(i).is_none(), a.is_empty());
                proptest::prop_assert_eq!(col.alt(i)[0].is_none(), a.len() <= 3);
                proptest::prop_assert_eq!(col.alt(i)[1].is_none(), a.len() <= 5);
                for (j, b) in codes.iter().enumerate() {
                    if a.is_empty() || b.is_empty() {
                        continue;
                    }
                    proptest::prop_assert_eq!(col.whole(i) == col.whole(j), a == b);
                    let (x, y) = (col.alt(i), col.alt(j));
                    if let (Some(p), Some(q)) = (prefix(a, 3), prefix(b, 3)) {
                        proptest::prop_assert_eq!(x[0] == y[0], p == q);
                    }
                    if let (Some(p), Some(q)) = (prefix(a, 5), prefix(b, 5)) {
                        proptest::prop_assert_eq!(x[1] == y[1], p == q);
                    }
                }
            }
        }

        /// A cached token is the token of that very (field, tag, value): values that share
        /// bytes, lengths or prefixes under other tags and fields never answer for each other.
        #[test]
        fn cache_answers_only_for_its_own_key(
            seq in proptest::collection::vec(
                (0usize..300, 0usize..11, proptest::collection::vec(
                    proptest::sample::select(vec!["", "a", "1", "ア", "高", "\u{0}", "𠮷"]), 0..4)),
                1..200)
        ) {
            let lk = LinkageKey::from_bytes([7; 32]);
            let keys: Vec<FieldKey> = (0..3).map(|i| lk.field_key(&format!("f{i}"))).collect();
            let tags = [
                Tag::Whole, Tag::Kana, Tag::Phonetic, Tag::Gram, Tag::Transposed, Tag::Year,
                Tag::Month, Tag::Day, Tag::Part1, Tag::Part2, Tag::Part3,
            ];
            let mut cache = GramCache::new(0);
            for (f, t, parts) in seq {
                let value: String = parts.concat();
                let key = &keys[f % 3];
                // One key per field number, as in the encoder (fields above 255 bypass the cache).
                proptest::prop_assert_eq!(
                    cache.token(f, key, tags[t], &value),
                    key.token(tags[t], &value)
                );
            }
        }
    }

    proptest::proptest! {
        /// Two insurance cards' whole tokens agree exactly when insurer, symbol and number all
        /// do (the whole token is made from the insurer–number and symbol–number tokens), and
        /// those two agree exactly when their parts do.
        #[test]
        fn insurance_tokens_agree_exactly_when_their_parts_do(
            a in ("[0-9]{0,2}", "[0-9a]{0,2}", "[0-9]{1,2}"),
            b in ("[0-9]{0,2}", "[0-9a]{0,2}", "[0-9]{1,2}"),
        ) {
            let enc = Encoder::new(
                &LinkageKey::from_bytes([7; 32]),
                Schema::from_roles(|r| {
                    matches!(r, Role::InsurerNumber | Role::InsuredSymbol | Role::InsuredNumber)
                }),
            );
            let tokens = |(insurer, symbol, number): &(String, String, String)| {
                let mut raw = RawRecord::default();
                raw.set(Role::InsurerNumber, insurer.as_str());
                raw.set(Role::InsuredSymbol, symbol.as_str());
                raw.set(Role::InsuredNumber, number.as_str());
                let f = enc.encode(&Identity::normalise(&raw).0);
                (f[0].whole, f[0].alt)
            };
            let ((wa, xa), (wb, xb)) = (tokens(&a), tokens(&b));
            proptest::prop_assert!(wa.is_some() && wb.is_some());
            proptest::prop_assert_eq!(wa == wb, a == b);
            proptest::prop_assert_eq!(xa[1] == xb[1], (&a.0, &a.2) == (&b.0, &b.2));
            proptest::prop_assert_eq!(
                xa[2].is_some() && xa[2] == xb[2],
                !a.1.is_empty() && (&a.1, &a.2) == (&b.1, &b.2)
            );
        }
    }

    #[test]
    fn joint_tokens_tell_the_order_and_the_missing_apart() {
        let key = LinkageKey::from_bytes([3; 32]).field_key("f");
        let (x, y) = (key.token(Tag::Part2, "x"), key.token(Tag::Part3, "y"));
        let all = [
            Token::joint(x, y),
            Token::joint(y, x),
            Token::joint(x, Token::NONE),
            Token::joint(Token::NONE, x),
            Token::joint(Token::NONE, Token::NONE),
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.is_some());
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(Token::joint(x, y), Token::joint(x, y));
    }

    fn names_encoder(key: u8) -> Encoder {
        Encoder::new(
            &LinkageKey::from_bytes([key; 32]),
            Schema::from_roles(|r| matches!(r, Role::FamilyName | Role::FamilyNameKana)),
        )
    }

    fn raw_name(written: &str, kana: &str) -> RawRecord {
        let mut raw = RawRecord::default();
        raw.set(Role::FamilyName, written);
        raw.set(Role::FamilyNameKana, kana);
        raw
    }

    /// The shared value table gives each key the one number made for it, whichever thread
    /// asks first and however many ask at once; once full it takes no new key and still
    /// answers for those it holds.
    #[test]
    fn shared_values_are_numbered_once_and_stop_when_full() {
        let number = |k: u64| (k.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 41) as u32;
        let t = SharedGrams::new(16);
        assert_eq!(t.limit(), 14);
        let made = std::sync::atomic::AtomicUsize::new(0);
        let count = |k| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            number(k)
        };
        for k in 1..=14u64 {
            assert_eq!(t.get_or(k << 8, || count(k << 8)), Some(number(k << 8)));
        }
        for k in 1..=14u64 {
            assert_eq!(t.get_or(k << 8, || unreachable!()), Some(number(k << 8)));
        }
        // A number too wide for a slot is not kept: asked again, it is made again.
        let wide = SharedGrams::new(16);
        assert_eq!(wide.get_or(5, || u32::MAX), Some(u32::MAX));
        assert_eq!(wide.get_or(5, || 7), Some(7));
        assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 14);
        assert_eq!(t.get_or(99 << 8, || count(99 << 8)), None);
        assert_eq!(t.get_or(3 << 8, || count(3 << 8)), Some(number(3 << 8)));

        let t = SharedGrams::new(4096);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for k in 1..=3000u64 {
                        assert_eq!(t.get_or(k, || number(k)), Some(number(k)));
                    }
                });
            }
        });
        assert_eq!(t.used.load(std::sync::atomic::Ordering::Relaxed), 3000);

        // Keys: two characters of the Basic Multilingual Plane, told apart by field and tag.
        let key = SharedGrams::key;
        assert_eq!(key(0, Tag::Gram, "高"), None);
        assert_eq!(key(0, Tag::Gram, "高橋様"), None);
        assert_eq!(key(0, Tag::Gram, "𠮷田"), None);
        assert_eq!(key(16, Tag::Gram, "高橋"), None);
        let keys = [
            key(0, Tag::Gram, "高橋"),
            key(0, Tag::Gram, "橋高"),
            key(1, Tag::Gram, "高橋"),
            key(0, Tag::Part1, "高橋"),
            key(15, Tag::Gram, "^a"),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert!(a.is_some_and(|k| k != 0 && k < 1 << 40));
            assert!(keys[i + 1..].iter().all(|b| b != a));
        }
    }

    /// An encoder whose shared value table is full (the values then go to each thread's memo)
    /// gives the tokens and q-gram numbers one with room gives.
    #[test]
    fn a_full_shared_table_changes_no_token() {
        let key = LinkageKey::from_bytes([6; 32]);
        let schema = Schema::from_roles(|_| true);
        let records: Vec<Identity> = [
            (
                "山田",
                "太郎",
                "ヤマダ",
                "タロウ",
                "S45.3.12",
                "東京都千代田区千代田1-1",
            ),
            (
                "髙橋",
                "花子",
                "タカハシ",
                "ハナコ",
                "1980-02-29",
                "大阪府和泉市上代町3-17-16",
            ),
            (
                "Smith",
                "Ann",
                "",
                "",
                "H1.1.8",
                "福岡県京都郡みやこ町下高屋団地1-15-4",
            ),
        ]
        .iter()
        .map(|&(fam, giv, fk, gk, dob, addr)| {
            let mut raw = RawRecord::default();
            raw.set(Role::FamilyName, fam);
            raw.set(Role::GivenName, giv);
            raw.set(Role::FamilyNameKana, fk);
            raw.set(Role::GivenNameKana, gk);
            raw.set(Role::BirthDate, dob);
            raw.set(Role::Address, addr);
            Identity::normalise(&raw).0
        })
        .collect();
        let roomy = Encoder::new(&key, schema.clone());
        let full = Encoder::with_shared_slots(&key, schema, 8);
        for id in records.iter().chain(&records) {
            let (a, b) = (roomy.encode(id), full.encode(id));
            let same = a
                .iter()
                .zip(&b)
                .all(|(x, y)| (x.whole, x.alt, &x.grams) == (y.whole, y.alt, &y.grams));
            assert!(same && a.len() == b.len(), "the tokens differ");
            assert!(a.iter().map(|t| t.grams.len()).sum::<usize>() > 20);
        }
        assert!(full.shared.used.load(std::sync::atomic::Ordering::Relaxed) <= 7);
    }

    /// Q-grams of two ASCII characters numbered through the shared pair table get the numbers
    /// the value memo gives them, whichever path numbers a pair first.
    #[test]
    fn ascii_pairs_are_numbered_as_the_memo_numbers_them() {
        let enc = Encoder::new(
            &LinkageKey::from_bytes([4; 32]),
            Schema::from_roles(|r| r == Role::Address),
        );
        let mut cache = GramCache::new(0);
        cache.claim(&enc);
        let key = &enc.keys[0];
        for (first, rest, last) in [
            ('町', "1-15-4", Some('$')),
            ('^', "ab12高", None),
            ('地', "9", Some('$')),
        ] {
            // Half the pairs through the memo first, then every pair through the table.
            let mut direct = Vec::new();
            crate::token::for_each_bigram(first, rest, last, |g| {
                direct.push(cache.gram(0, 0, key, Tag::Gram, g, &enc.numbers));
            });
            let mut tabled = Vec::new();
            enc.bigrams(&mut cache, 0, (first, rest, last), &mut tabled);
            assert_eq!(tabled, direct, "{rest}");
            let mut again = Vec::new();
            enc.bigrams(
                &mut GramCache::new(enc.numbers.id),
                0,
                (first, rest, last),
                &mut again,
            );
            assert_eq!(again, direct, "{rest}");
        }
    }

    /// Normalising record after record into one identity (as a table is encoded) gives each
    /// record what normalising it afresh gives: no value of one record is left in the next.
    #[test]
    fn a_reused_identity_keeps_nothing_of_the_previous_record() {
        let pools = crate::simulate::NamePools::from_csv(
            include_str!("../tests/data/family_names.csv"),
            include_str!("../tests/data/given_names.csv"),
        );
        let (left, right) = crate::simulate::two_sources(&pools, 300, 200, 1.0, 7);
        let mut raws: Vec<RawRecord> = left
            .iter()
            .chain(&right)
            .map(|r| r.record.clone())
            .collect();
        // Missing and unparseable values between full ones.
        for (i, r) in raws.iter_mut().enumerate() {
            match i % 7 {
                1 => r.set(Role::Address, ""),
                2 => r.set(Role::BirthDate, "not a date"),
                3 => r.set(Role::PostalCode, ""),
                4 => r.set(Role::Phone, ""),
                5 => r.set(Role::NationalId, "ab 12"),
                _ => {}
            }
        }
        let view = |id: &Identity| {
            (
                id.family.clone(),
                id.given.clone(),
                id.birth_date,
                id.sex,
                id.postal,
                id.postal_digits.clone(),
                id.address.clone(),
                id.texts.clone(),
                id.insurance.clone(),
            )
        };
        let mut reused = Identity::default();
        for (i, raw) in raws.iter().enumerate() {
            let skip = [i % 3 == 0, i % 5 == 0];
            let bad = reused.normalise_into(raw, skip);
            let (fresh, fresh_bad) = Identity::normalise_with(raw, skip);
            // Compared without printing: an identity's values are personal data.
            assert!(view(&reused) == view(&fresh), "record {i}");
            assert_eq!(bad, fresh_bad, "record {i}");
        }
    }

    /// A name left unnormalised because the memo knew it, but forgotten before its turn (the
    /// memo is emptied when full), is normalised then: its tokens are still the right ones.
    #[test]
    fn a_skipped_name_forgotten_meanwhile_is_normalised_late() {
        let enc = names_encoder(3);
        let raw = raw_name("髙橋", "ﾀｶﾊｼ");
        let fresh = {
            let id = Identity::normalise(&raw).0;
            let mut t = FieldTokens::default();
            enc.field(0, &id, None, &mut t, &mut GramCache::new(0));
            t
        };
        let mut cache = GramCache::new(0);
        cache.claim(&enc);
        // Seen twice: the spelling is remembered from its second time on.
        for _ in 0..2 {
            let names = cache.raw_names(&raw);
            let id = Identity::normalise_with(&raw, names.skipped).0;
            enc.field(0, &id, Some(names), &mut FieldTokens::default(), &mut cache);
        }
        let names = cache.raw_names(&raw);
        assert_eq!(names.skipped, [true, false]);
        let id = Identity::normalise_with(&raw, names.skipped).0;
        assert!(id.family.written.is_empty() && id.family.kana.is_empty());
        // Emptied, and refilled with another name at the index the first one had.
        cache.forget_names();
        let other = Identity::normalise(&raw_name("佐藤", "サトウ")).0;
        enc.field(0, &other, None, &mut FieldTokens::default(), &mut cache);
        assert_eq!(cache.name_list.len(), 1);
        let mut t = FieldTokens::default();
        enc.field(0, &id, Some(names), &mut t, &mut cache);
        assert_eq!(
            (t.whole, t.alt, t.grams),
            (fresh.whole, fresh.alt, fresh.grams)
        );
    }

    /// Tokens made through a shared cache are those made without one, also when the cache
    /// was last filled by another encoder (whose tokens and numbers would be wrong here).
    #[test]
    fn a_cache_serves_only_its_own_encoder() {
        let raws = [raw_name("高橋", "タカハシ"), raw_name("髙橋", "タカハシ")];
        let cache = TokenCache::default();
        let (a, b) = (names_encoder(1), names_encoder(2));
        let mut ta = TokenTable::new(&a);
        ta.push_raw(&a, &raws, &cache);
        let mut tb = TokenTable::new(&b);
        tb.push_raw(&b, &raws, &cache);
        let mut fresh = TokenTable::new(&b);
        fresh.push_raw(&b, &raws, &TokenCache::default());
        let col = |t: &TokenTable| {
            (0..t.len())
                .map(|i| (t.column(0).whole(i), t.column(0).alt(i)))
                .collect::<Vec<_>>()
        };
        assert_ne!(col(&ta), col(&tb));
        assert_eq!(col(&tb), col(&fresh));
        assert!(tb.same_numbering(&fresh) && !ta.same_numbering(&tb));
    }

    #[test]
    fn tables_of_different_encoders_are_not_compared() {
        let (a, b) = (names_encoder(1), names_encoder(1));
        let ids = [Identity::normalise(&raw_name("佐藤", "サトウ")).0];
        let (ta, tb) = (TokenTable::encode(&a, &ids), TokenTable::encode(&b, &ids));
        assert_eq!(
            crate::compare::Comparator::new(&ta, &tb).err(),
            Some(crate::compare::CompareError::DifferentEncoders)
        );
        // A clone shares its encoder's numbering.
        let tc = TokenTable::encode(&a.clone(), &ids);
        assert!(crate::compare::Comparator::new(&ta, &tc).is_ok());
    }

    proptest::proptest! {
        /// A store widens at its first number past 16 bits and keeps every number; narrow and
        /// wide stores give the same Dice coefficients, also against each other.
        #[test]
        fn gram_store_widens_without_changing_dice(
            a in proptest::collection::btree_set(0u32..70_000, 0..12),
            b in proptest::collection::btree_set(0u32..70_000, 0..12),
            small in proptest::collection::btree_set(0u32..300, 0..12),
            min in 0.1f64..1.0,
        ) {
            let (a, b, small): (Vec<u32>, Vec<u32>, Vec<u32>) =
                (a.into_iter().collect(), b.into_iter().collect(), small.into_iter().collect());
            let mut store = GramStore::new();
            store.extend(&small);
            store.extend(&a);
            store.extend(&b);
            let wide = a.iter().chain(&b).any(|&n| n > u32::from(u16::MAX));
            proptest::prop_assert_eq!(matches!(store, Widening::Wide(_)), wide);
            let (ns, na) = (small.len(), a.len());
            let got = |lo: usize, hi: usize| store.slice(lo, hi);
            let sa = got(ns, ns + na);
            let sb = got(ns + na, ns + na + b.len());
            let ss = got(0, ns);
            let want = |x: &[u32], y: &[u32]| crate::compare::dice_at_least(x, y, min);
            proptest::prop_assert_eq!(sa.dice_at_least(sb, min), want(&a, &b));
            let mut narrow = GramStore::new();
            narrow.extend(&small);
            let n = narrow.slice(0, ns);
            proptest::prop_assert_eq!(n.dice_at_least(sa, min), want(&small, &a));
            proptest::prop_assert_eq!(sa.dice_at_least(n, min), want(&a, &small));
            proptest::prop_assert_eq!(ss.dice_at_least(n, min), want(&small, &small));
        }
    }
}
