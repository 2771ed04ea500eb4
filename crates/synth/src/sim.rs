//! One person's life over the period: identity and life events, conditions, care at providers,
//! and how each provider ends up holding the person's identity.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use tsunagu_model::ProviderKind;

use crate::clinical::{
    self, ACUTES, CARE_SERVICES, CONDITIONS, Care, DRUGS, HEIGHT_F, HEIGHT_M, Setting, WEIGHT_F,
    WEIGHT_M, interp, item, lab, receipt,
};
use crate::config::Config;
use crate::era;
use crate::noise;
use crate::reference::{MALE_SHARE_2020, PREFECTURES, PYRAMID_2020_K, Reference};
use crate::rng::{Rand, Stream};
use crate::world::{DateStyle, InsKind, KanaStyle, SexCoding, World};

/// Health insurance as printed on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insurance {
    /// Index of the insurer in [`World::insurers`].
    pub insurer: u32,
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番 (two digits; 00 for the insured person, 01… for dependants).
    pub branch: String,
}

/// A stretch of time over which a person's identity did not change.
#[derive(Debug, Clone)]
pub struct Span {
    /// First day.
    pub from: NaiveDate,
    /// Family-name index.
    pub family: u32,
    /// Postal row of the home address.
    pub row: u32,
    /// Block number and building (e.g. 2-8-1 or 2丁目8番1号 コーポ桜101).
    pub block: String,
    /// Phone (digits only).
    pub phone: Option<String>,
    /// Insurance.
    pub ins: Insurance,
}

/// A condition the person truly has.
#[derive(Debug, Clone)]
pub struct TrueCondition {
    /// ICD-10 code.
    pub icd10: &'static str,
    /// Name.
    pub name: &'static str,
    /// Onset.
    pub onset: NaiveDate,
}

/// A life event (for the truth files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Born during the period.
    Birth,
    /// Moved house.
    Move,
    /// Married (a family-name change when the name changed).
    Marriage,
    /// Changed insurer.
    InsurerChange,
    /// Died.
    Death,
}

impl Event {
    /// Name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Birth => "birth",
            Event::Move => "move",
            Event::Marriage => "marriage",
            Event::InsurerChange => "insurer_change",
            Event::Death => "death",
        }
    }
}

/// Encounter class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncClass {
    /// 外来.
    Outpatient,
    /// 入院.
    Inpatient,
    /// 救急.
    Emergency,
}

impl EncClass {
    /// Name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            EncClass::Outpatient => "outpatient",
            EncClass::Inpatient => "inpatient",
            EncClass::Emergency => "emergency",
        }
    }
}

/// Check-up programmes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// 特定健診 (insurers, ages 40–74).
    Tokutei,
    /// 乳児健診 at 3–4 months.
    Infant4m,
    /// 1歳6か月児健診.
    Infant18m,
    /// 3歳児健診.
    Infant3y,
    /// 学校健診.
    School,
}

impl Program {
    /// Name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Program::Tokutei => "tokutei_kenshin",
            Program::Infant4m => "infant_4m",
            Program::Infant18m => "infant_18m",
            Program::Infant3y => "infant_3y",
            Program::School => "school",
        }
    }
}

/// What a record says.
#[derive(Debug, Clone)]
pub enum RecKind {
    /// An encounter; `date` is its start.
    Encounter {
        /// Class.
        class: EncClass,
        /// Last day.
        end: NaiveDate,
        /// Department.
        dept: &'static str,
    },
    /// A diagnosis (病名).
    Diagnosis {
        /// ICD-10.
        icd10: &'static str,
        /// Name.
        name: &'static str,
        /// 疑い.
        suspected: bool,
        /// 主病名.
        main: bool,
    },
    /// A prescription line.
    Prescription {
        /// Index into [`DRUGS`].
        drug: usize,
        /// Days supplied.
        days: u32,
        /// Order number.
        order: u32,
    },
    /// A pharmacy's dispensing.
    Dispensing {
        /// Index into [`DRUGS`].
        drug: usize,
        /// Days supplied.
        days: u32,
        /// Prescribing provider.
        prescriber: u32,
    },
    /// A lab result.
    Lab {
        /// Index into [`LABS`].
        lab: usize,
        /// Value.
        value: f64,
        /// Order number.
        order: u32,
    },
    /// A vital sign or measurement at an encounter.
    Vital {
        /// Index into [`ITEMS`].
        item: usize,
        /// Value.
        value: f64,
    },
    /// A check-up item (from an insurer, municipality or school operator). `lab` items use
    /// [`LABS`], others [`ITEMS`].
    Checkup {
        /// Programme.
        program: Program,
        /// Whether `index` points into [`LABS`] (else [`ITEMS`]).
        lab: bool,
        /// Index.
        index: usize,
        /// Value.
        value: f64,
    },
    /// A month of care services.
    Care {
        /// Index into [`CARE_SERVICES`].
        service: usize,
        /// 要介護 level 1–5 (要支援 as 0).
        level: u8,
        /// Units.
        units: u32,
    },
    /// A claims line (レセプト) held by an insurer.
    Claim {
        /// Claim number.
        claim: u32,
        /// Facility that claimed.
        facility: u32,
        /// Line number.
        line: u32,
        /// diagnosis | procedure | drug
        kind: &'static str,
        /// Code.
        code: &'static str,
        /// Name.
        name: &'static str,
        /// Quantity (days for drugs, 1 otherwise).
        qty: f64,
    },
}

/// One record held by one provider about one patient.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Provider index.
    pub prov: u32,
    /// Date.
    pub date: NaiveDate,
    /// Encounter number at this provider (0 when none).
    pub enc: u32,
    /// Content.
    pub kind: RecKind,
}

/// A person at one provider.
#[derive(Debug, Clone)]
pub struct Link {
    /// First contact.
    pub first: NaiveDate,
    /// Last contact.
    pub last: NaiveDate,
    /// The identity as the provider holds it.
    pub identity: HeldIdentity,
}

/// An identity as a provider's file holds it (already rendered in the provider's habits).
#[derive(Debug, Clone, Default)]
pub struct HeldIdentity {
    /// Local patient id.
    pub id: String,
    /// 氏 in kanji.
    pub family: String,
    /// 名 in kanji.
    pub given: String,
    /// 氏 in kana.
    pub family_kana: String,
    /// 名 in kana.
    pub given_kana: String,
    /// Birth date in the provider's format.
    pub birth_text: String,
    /// Birth date as held (typos included), for formats that need a real date.
    pub birth: NaiveDate,
    /// Sex in the provider's coding.
    pub sex_text: String,
    /// Postal code in the provider's format.
    pub postal: String,
    /// Address.
    pub address: String,
    /// Phone (may be empty).
    pub phone: String,
    /// Index of the insurer in [`World::insurers`].
    pub insurer: u32,
    /// 保険者番号.
    pub insurer_number: String,
    /// 記号.
    pub symbol: String,
    /// 番号.
    pub number: String,
    /// 枝番.
    pub branch: String,
    /// The held address is older than the person's address at last contact.
    pub outdated_address: bool,
    /// The held family name predates a marriage.
    pub outdated_family: bool,
    /// Variant kanji applied.
    pub variant: bool,
    /// Given-name typo applied.
    pub typo: bool,
    /// Phone left out although the person has one.
    pub missing_phone: bool,
}

/// A notice (通知) to the person by a provider.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Provider.
    pub prov: u32,
    /// Date.
    pub date: NaiveDate,
    /// letter | in_person | poster_portal
    pub channel: &'static str,
}

/// A stop request (提供停止の求め).
#[derive(Debug, Clone)]
pub struct StopRequest {
    /// Provider that received it.
    pub prov: u32,
    /// person | bereaved | guardian
    pub requester: &'static str,
    /// For the bereaved: spouse | child | parent | grandchild | grandparent | sibling.
    pub relationship: &'static str,
    /// Received at (JST).
    pub received_at: chrono::NaiveDateTime,
}

/// Everything generated for one person.
pub struct PersonOut {
    /// Index (0-based).
    pub index: u64,
    /// Person id in the truth files.
    pub id: String,
    /// Sex.
    pub male: bool,
    /// Birth date.
    pub birth: NaiveDate,
    /// Given-name index (into the sex's list).
    pub given: u32,
    /// Death date.
    pub death: Option<NaiveDate>,
    /// Identity spans.
    pub spans: Vec<Span>,
    /// Life events.
    pub events: Vec<(NaiveDate, Event)>,
    /// True conditions.
    pub conditions: Vec<TrueCondition>,
    /// Records, grouped by nothing in particular (writers sort as they need).
    pub recs: Vec<Rec>,
    /// Per provider: the link.
    pub links: BTreeMap<u32, Link>,
    /// Notices.
    pub notices: Vec<Notice>,
    /// Stop request, if any.
    pub stop: Option<StopRequest>,
}

impl PersonOut {
    /// The identity span at `d`.
    pub fn span_at(&self, d: NaiveDate) -> &Span {
        let i = self.spans.partition_point(|s| s.from <= d);
        &self.spans[i.saturating_sub(1)]
    }
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n as u64)).unwrap_or(d)
    } else {
        d.checked_sub_days(Days::new((-n) as u64)).unwrap_or(d)
    }
}

fn age_at(birth: NaiveDate, d: NaiveDate) -> f64 {
    (d - birth).num_days() as f64 / 365.25
}

fn years_int(birth: NaiveDate, d: NaiveDate) -> i32 {
    let mut y = d.year() - birth.year();
    if (d.month(), d.day()) < (birth.month(), birth.day()) {
        y -= 1;
    }
    y
}

fn date_in(rng: &mut Rand, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let n = (to - from).num_days();
    add_days(from, rng.int(0, n.max(0)))
}

/// The smallest age at which the running maximum of `curve` exceeds `u`.
pub fn onset_age(curve: clinical::Curve, u: f64) -> Option<f64> {
    let first = curve.first()?;
    if first.1 > u {
        return Some(0.0);
    }
    for w in curve.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if y1 > u && y1 > y0 {
            let t = ((u - y0) / (y1 - y0)).max(0.0);
            return Some(x0 + t * (x1 - x0));
        }
    }
    None
}

/// Annual probability of death at `age` (Gompertz fit to Japan's 2020 life table: about 0.25 %
/// at 50 and 4.5 % at 80 for both sexes pooled; men higher).
fn death_rate(age: f64, male: bool) -> f64 {
    let base = if age < 1.0 {
        0.0018
    } else {
        (-10.8 + 0.0963 * age).exp().max(0.0002)
    };
    (base * if male { 1.3 } else { 0.75 }).min(0.6)
}

/// 要介護認定率 by age (介護保険事業状況報告 2020, rounded).
const CARE_NEED: clinical::Curve = &[
    (60.0, 0.0),
    (65.0, 0.03),
    (70.0, 0.06),
    (75.0, 0.13),
    (80.0, 0.26),
    (85.0, 0.48),
    (90.0, 0.72),
];

/// Generator state for one person.
pub struct Gen<'a> {
    cfg: &'a Config,
    r: &'a Reference,
    w: &'a World,
    rng: Rand,
    out: PersonOut,
    enc_no: BTreeMap<u32, u32>,
    order_no: BTreeMap<u32, u32>,
    claim_no: BTreeMap<(u32, u32, i32, u32), u32>,
    claim_line: BTreeMap<u32, u32>,
    seen_diag: BTreeMap<(u32, &'static str), ()>,
    z: [f64; 20],
    end: NaiveDate,
}

/// Generate person `index`.
pub fn person(cfg: &Config, r: &Reference, w: &World, index: u64) -> PersonOut {
    let rng = Rand::new(cfg.seed, Stream::Person(index));
    let out = PersonOut {
        index,
        id: format!("P{:09}", index + 1),
        male: false,
        birth: cfg.start,
        given: 0,
        death: None,
        spans: Vec::new(),
        events: Vec::new(),
        conditions: Vec::new(),
        recs: Vec::new(),
        links: BTreeMap::new(),
        notices: Vec::new(),
        stop: None,
    };
    let mut g = Gen {
        cfg,
        r,
        w,
        rng,
        out,
        enc_no: BTreeMap::new(),
        order_no: BTreeMap::new(),
        claim_no: BTreeMap::new(),
        claim_line: BTreeMap::new(),
        seen_diag: BTreeMap::new(),
        z: [0.0; 20],
        end: cfg.end,
    };
    g.run();
    g.out
}

impl Gen<'_> {
    fn run(&mut self) {
        self.demographics();
        self.life();
        self.conditions();
        for z in &mut self.z {
            *z = self.rng.normal();
        }
        self.medical();
        self.checkups();
        self.care();
        self.chronological();
        self.identities();
        self.ledger();
    }

    fn demographics(&mut self) {
        let weights: Vec<f64> = PYRAMID_2020_K.iter().map(|&k| f64::from(k)).collect();
        let band = self.rng.pick_weighted(&weights);
        self.out.male = self.rng.chance(MALE_SHARE_2020[band]);
        // The pyramid is read as the age distribution at the end of the period.
        let age_days = (band as i64 * 5 * 36525) / 100 + self.rng.int(0, 5 * 365 + 1);
        self.out.birth = add_days(self.cfg.end, -age_days);
        let names = if self.out.male {
            self.r.given_male.len()
        } else {
            self.r.given_female.len()
        };
        self.out.given = self.rng.index(names) as u32;
        if self.out.birth > self.cfg.start {
            self.out.events.push((self.out.birth, Event::Birth));
        }
    }

    fn new_address(&mut self, pref: Option<u8>) -> (u32, String) {
        let p = match pref {
            Some(p) => p as usize,
            None => self.rng.pick_cum(&self.r.pref_cum),
        };
        let rows = &self.r.rows_by_pref[p];
        let row = rows[self.rng.index(rows.len())];
        let (a, b, c) = (self.rng.int(1, 5), self.rng.int(1, 30), self.rng.int(1, 25));
        let mut block = if self.rng.chance(0.7) {
            format!("{a}-{b}-{c}")
        } else {
            format!("{a}丁目{b}番{c}号")
        };
        if self.rng.chance(0.35) {
            const BUILDINGS: [&str; 8] = [
                "コーポ",
                "ハイツ",
                "メゾン",
                "レジデンス",
                "グランド",
                "パレス",
                "サンシャイン",
                "ヴィラ",
            ];
            const SUFFIX: [&str; 4] = ["", "Ⅱ", "南", "東"];
            let fam = &self.r.family[self.rng.index(self.r.family.len())].kanji;
            let room = self.rng.int(1, 8) * 100 + self.rng.int(1, 12);
            block = format!(
                "{block} {}{fam}{}{room}",
                BUILDINGS[self.rng.index(8)],
                SUFFIX[self.rng.index(4)]
            );
        }
        (row, block)
    }

    fn new_phone(&mut self, pref: u8, age: f64) -> Option<String> {
        let mobile = if age < 12.0 {
            self.rng.chance(0.3)
        } else if age >= 75.0 {
            self.rng.chance(0.4)
        } else {
            self.rng.chance(0.85)
        };
        if mobile {
            let pre = ["090", "080", "070"][self.rng.pick_weighted(&[0.5, 0.4, 0.1])];
            return Some(format!("{pre}{:08}", self.rng.int(0, 99_999_999)));
        }
        if self.rng.chance(0.8) {
            let area = PREFECTURES[pref as usize].area_code;
            let local_len = 10 - area.len();
            let max = 10i64.pow(local_len as u32) - 1;
            let min = 10i64.pow(local_len as u32 - 1) * 2;
            return Some(format!("{area}{}", self.rng.int(min, max)));
        }
        None
    }

    fn employee_insurance(&mut self, pref: u8) -> u32 {
        let w = self.w;
        match self.rng.pick_weighted(&[0.5, 0.38, 0.12]) {
            0 => w.kyokai[pref as usize],
            1 => {
                let ks = &w.kumiai[pref as usize];
                ks[self.rng.index(ks.len())]
            }
            _ => {
                let cs = &w.kyosai[pref as usize];
                cs[self.rng.index(cs.len())]
            }
        }
    }

    fn insurance_for(&mut self, age: f64, row: u32, dependant: bool) -> Insurance {
        let pref = self.r.postal[row as usize].pref;
        let gov = self.r.municipalities[self.r.postal[row as usize].muni as usize].government;
        let insurer = if age >= 75.0 {
            self.w.kouki[pref as usize]
        } else if age >= 65.0 {
            if self.rng.chance(0.8) {
                self.w.kokuho[gov as usize]
            } else {
                self.employee_insurance(pref)
            }
        } else if self.rng.chance(0.25) {
            self.w.kokuho[gov as usize]
        } else {
            self.employee_insurance(pref)
        };
        self.card(insurer, dependant)
    }

    fn card(&mut self, insurer: u32, dependant: bool) -> Insurance {
        let kind = self.w.insurers[insurer as usize].kind;
        let symbol = match kind {
            InsKind::Kouki => String::new(),
            InsKind::Kokuho => format!("{:02}", self.rng.int(1, 99)),
            _ => format!("{}", self.rng.int(1000, 99_999_999)),
        };
        let number = match kind {
            InsKind::Kouki => format!("{:08}", self.rng.int(10_000_000, 99_999_999)),
            InsKind::Kokuho => format!("{}", self.rng.int(1, 9_999_999)),
            _ => format!("{}", self.rng.int(1, 999_999)),
        };
        let branch = if dependant {
            format!("{:02}", self.rng.int(1, 4))
        } else {
            "00".into()
        };
        Insurance {
            insurer,
            symbol,
            number,
            branch,
        }
    }

    fn life(&mut self) {
        let start = self.cfg.start.max(self.out.birth);
        let age0 = age_at(self.out.birth, start);
        let (row, block) = self.new_address(None);
        let pref = self.r.postal[row as usize].pref;
        let phone = self.new_phone(pref, age0);
        let dependant = age0 < 22.0;
        let ins = self.insurance_for(age0, row, dependant);
        let family = self.rng.index(self.r.family.len()) as u32;
        self.out.spans.push(Span {
            from: start,
            family,
            row,
            block,
            phone,
            ins,
        });
        let mut married = age0 > 30.0 && self.rng.chance(0.7);

        let mut year_start = start;
        while year_start <= self.end {
            let year_end = add_days(year_start, 364).min(self.end);
            let frac = ((year_end - year_start).num_days() + 1) as f64 / 365.0;
            let age = age_at(self.out.birth, year_start);
            let male = self.out.male;
            // Death.
            if self.rng.chance(death_rate(age, male) * frac) {
                let d = date_in(&mut self.rng, year_start, year_end);
                self.out.death = Some(d);
                self.out.events.push((d, Event::Death));
                self.end = d;
                break;
            }
            let mut events: Vec<(NaiveDate, u8)> = Vec::new();
            let move_rate = if (20.0..35.0).contains(&age) {
                0.10
            } else if age >= 65.0 {
                0.02
            } else {
                0.035
            };
            if self.rng.chance(move_rate * frac) {
                events.push((date_in(&mut self.rng, year_start, year_end), 0));
            }
            if !married {
                let curve: clinical::Curve = if male {
                    &[
                        (20.0, 0.0),
                        (25.0, 0.03),
                        (30.0, 0.08),
                        (35.0, 0.06),
                        (45.0, 0.01),
                    ]
                } else {
                    &[
                        (19.0, 0.0),
                        (22.0, 0.03),
                        (27.0, 0.09),
                        (32.0, 0.07),
                        (40.0, 0.02),
                        (45.0, 0.0),
                    ]
                };
                if self.rng.chance(interp(curve, age) * frac) {
                    events.push((date_in(&mut self.rng, year_start, year_end), 1));
                    married = true;
                }
            }
            if (22.0..65.0).contains(&age) && self.rng.chance(0.05 * frac) {
                events.push((date_in(&mut self.rng, year_start, year_end), 2));
            }
            for (threshold, code) in [(22, 3u8), (65, 4), (75, 5)] {
                if let Some(bd) = self.out.birth.with_year(self.out.birth.year() + threshold)
                    && bd >= year_start
                    && bd <= year_end
                    && bd > start
                {
                    events.push((bd, code));
                }
            }
            events.sort();
            for (d, e) in events {
                self.apply(d, e);
            }
            year_start = add_days(year_end, 1);
        }
    }

    fn apply(&mut self, d: NaiveDate, e: u8) {
        let Some(last) = self.out.spans.last() else {
            return;
        };
        let mut s = last.clone();
        s.from = d;
        let age = age_at(self.out.birth, d);
        let old_pref = self.r.postal[s.row as usize].pref;
        let mut moved = false;
        let mut insurer_changed = false;
        match e {
            0 => {
                let pref = if self.rng.chance(0.7) {
                    Some(old_pref)
                } else {
                    None
                };
                let (row, block) = self.new_address(pref);
                s.row = row;
                s.block = block;
                moved = true;
            }
            1 => {
                let changes = if self.out.male {
                    self.rng.chance(0.05)
                } else {
                    self.rng.chance(0.95)
                };
                if changes {
                    s.family = self.rng.index(self.r.family.len()) as u32;
                }
                self.out.events.push((d, Event::Marriage));
                if self.rng.chance(0.6) {
                    let (row, block) = self.new_address(Some(old_pref));
                    s.row = row;
                    s.block = block;
                    moved = true;
                }
            }
            2 => {
                s.ins = self.insurance_for(age, s.row, false);
                insurer_changed = true;
            }
            3 => {
                if s.ins.branch != "00" && self.rng.chance(0.8) {
                    s.ins = self.insurance_for(age, s.row, false);
                    insurer_changed = true;
                }
            }
            4 => {
                let kind = self.w.insurers[s.ins.insurer as usize].kind;
                if kind != InsKind::Kokuho && self.rng.chance(0.6) {
                    let gov = self.r.municipalities[self.r.postal[s.row as usize].muni as usize]
                        .government;
                    s.ins = self.card(self.w.kokuho[gov as usize], false);
                    insurer_changed = true;
                }
            }
            _ => {
                let pref = self.r.postal[s.row as usize].pref;
                s.ins = self.card(self.w.kouki[pref as usize], false);
                insurer_changed = true;
            }
        }
        if moved {
            self.out.events.push((d, Event::Move));
            let new_pref = self.r.postal[s.row as usize].pref;
            let ins_kind = self.w.insurers[s.ins.insurer as usize].kind;
            // 国保 and 後期高齢者医療 follow the address; 協会けんぽ follows the employer's branch.
            if ins_kind == InsKind::Kokuho || (ins_kind == InsKind::Kouki && new_pref != old_pref) {
                s.ins = self.insurance_for(age, s.row, s.ins.branch != "00");
                insurer_changed = true;
            }
            // A fixed line changes with the address; a mobile number rarely does.
            let landline = s
                .phone
                .as_ref()
                .is_some_and(|p| !["090", "080", "070"].iter().any(|m| p.starts_with(m)));
            if landline || self.rng.chance(0.1) {
                s.phone = self.new_phone(new_pref, age);
            }
        }
        if insurer_changed {
            self.out.events.push((d, Event::InsurerChange));
        }
        self.out.spans.push(s);
    }

    fn conditions(&mut self) {
        let limit = self.end;
        for c in &CONDITIONS {
            let u = self.rng.f();
            let curve = if self.out.male { c.male } else { c.female };
            if let Some(a) = onset_age(curve, u) {
                let onset = add_days(self.out.birth, (a * 365.25) as i64);
                if onset <= limit {
                    self.out.conditions.push(TrueCondition {
                        icd10: c.icd10,
                        name: c.name,
                        onset,
                    });
                }
            }
        }
    }

    fn has(&self, icd: &str, d: NaiveDate) -> bool {
        self.out
            .conditions
            .iter()
            .any(|c| c.icd10 == icd && c.onset <= d)
    }

    fn pref_at(&self, d: NaiveDate) -> u8 {
        self.r.postal[self.out.span_at(d).row as usize].pref
    }

    fn gov_at(&self, d: NaiveDate) -> u32 {
        self.r.municipalities[self.r.postal[self.out.span_at(d).row as usize].muni as usize]
            .government
    }

    /// Providers of `kind` the person uses, one per residence epoch (between moves).
    fn regular(&mut self, kind: ProviderKind) -> Vec<(NaiveDate, Option<u32>)> {
        let mut out: Vec<(NaiveDate, Option<u32>)> = Vec::new();
        let mut prev_pref = None;
        let starts: Vec<NaiveDate> = {
            let mut v = vec![self.out.spans[0].from];
            v.extend(
                self.out
                    .events
                    .iter()
                    .filter(|(_, e)| *e == Event::Move)
                    .map(|(d, _)| *d),
            );
            v
        };
        for d in starts {
            let pref = self.pref_at(d);
            let keep = prev_pref == Some(pref) && self.rng.chance(0.6);
            if !keep {
                let p = self.w.choose(&mut self.rng, kind, pref);
                out.push((d, p));
            }
            prev_pref = Some(pref);
        }
        out
    }

    fn at(epochs: &[(NaiveDate, Option<u32>)], d: NaiveDate) -> Option<u32> {
        let i = epochs.partition_point(|(from, _)| *from <= d);
        epochs.get(i.checked_sub(1)?).and_then(|e| e.1)
    }

    fn next_enc(&mut self, prov: u32) -> u32 {
        let n = self.enc_no.entry(prov).or_insert(0);
        *n += 1;
        *n
    }

    fn next_order(&mut self, prov: u32) -> u32 {
        let n = self.order_no.entry(prov).or_insert(0);
        *n += 1;
        *n
    }

    fn push(&mut self, prov: u32, date: NaiveDate, enc: u32, kind: RecKind) {
        self.out.recs.push(Rec {
            prov,
            date,
            enc,
            kind,
        });
    }

    fn alive_window(&self) -> (NaiveDate, NaiveDate) {
        (self.cfg.start.max(self.out.birth), self.end)
    }

    /// A claims line at the insurer the person has on `date`, when that insurer provides data.
    fn claim(
        &mut self,
        date: NaiveDate,
        facility: u32,
        kind: &'static str,
        code: &'static str,
        name: &'static str,
        qty: f64,
    ) {
        let ins = self.out.span_at(date).ins.insurer;
        let Some(insurer) = self.w.insurers[ins as usize].provider else {
            return;
        };
        let key = (insurer, facility, date.year(), date.month());
        let next = self.claim_no.len() as u32 + 1;
        let claim = *self.claim_no.entry(key).or_insert(next);
        let line = self.claim_line.entry(claim).or_insert(0);
        *line += 1;
        let line = *line;
        let month = NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap_or(date);
        self.push(
            insurer,
            month,
            0,
            RecKind::Claim {
                claim,
                facility,
                line,
                kind,
                code,
                name,
                qty,
            },
        );
    }

    fn lab_value(&mut self, l: usize, d: NaiveDate, infection: bool) -> f64 {
        let age = age_at(self.out.birth, d).max(1.0);
        let male = self.out.male;
        let z = self.z[l];
        let e = self.rng.normal();
        let v = match l {
            lab::HBA1C | lab::GLU => {
                let a1c = if self.has("E11.9", d) {
                    7.1 + 0.8 * z + 0.35 * e
                } else {
                    5.3 + 0.008 * (age - 40.0).max(0.0) + 0.25 * z + 0.1 * e
                };
                if l == lab::HBA1C {
                    a1c.clamp(4.0, 15.0)
                } else {
                    (28.7 * a1c - 46.7 + 8.0 * self.rng.normal()).max(50.0)
                }
            }
            lab::LDL => {
                if self.has("E78.5", d) {
                    if (d - self
                        .out
                        .conditions
                        .iter()
                        .find(|c| c.icd10 == "E78.5")
                        .map_or(d, |c| c.onset))
                    .num_days()
                        > 60
                    {
                        105.0 + 22.0 * z + 12.0 * e
                    } else {
                        165.0 + 25.0 * z + 12.0 * e
                    }
                } else {
                    112.0 + 0.4 * (age - 20.0).clamp(0.0, 40.0) + 26.0 * z + 10.0 * e
                }
            }
            lab::HDL => (if male { 55.0 } else { 66.0 }) + 12.0 * z + 4.0 * e,
            lab::TG => {
                let m: f64 = if self.has("E78.5", d) {
                    150.0
                } else if male {
                    115.0
                } else {
                    85.0
                };
                (m.ln() + 0.45 * z + 0.2 * e).exp()
            }
            lab::AST => (22f64.ln() + 0.25 * z + 0.12 * e).exp(),
            lab::ALT => ((if male { 22f64 } else { 15.0 }).ln() + 0.4 * z + 0.15 * e).exp(),
            lab::GGT => ((if male { 32f64 } else { 18.0 }).ln() + 0.55 * z + 0.15 * e).exp(),
            lab::EGFR | lab::CRE => {
                let egfr = if self.has("N18.3", d) {
                    44.0 + 7.0 * z + 3.0 * e
                } else {
                    (112.0 - 0.75 * (age - 20.0).max(0.0) + 12.0 * z + 4.0 * e).max(35.0)
                }
                .clamp(4.0, 160.0);
                if l == lab::EGFR {
                    egfr
                } else {
                    // 日本腎臓学会 eGFR equation solved for creatinine.
                    let f = if male { 1.0 } else { 0.739 };
                    (egfr / (194.0 * age.max(18.0).powf(-0.287) * f)).powf(-1.0 / 1.094)
                }
            }
            lab::HB => {
                let mut hb = if male { 14.8 } else { 13.0 } + 1.0 * z + 0.4 * e
                    - 0.02 * (age - 60.0).max(0.0);
                if self.has("N18.3", d) {
                    hb -= 1.5;
                }
                if self
                    .out
                    .conditions
                    .iter()
                    .any(|c| c.icd10.starts_with('C') && c.onset <= d)
                {
                    hb -= 1.2;
                }
                hb.max(4.0)
            }
            lab::WBC => (6.0 + 1.4 * z + 0.6 * e + if infection { 4.5 } else { 0.0 }).max(1.0),
            lab::CRP => {
                if infection {
                    (1.6 + 0.7 * e).exp()
                } else {
                    (0.05f64.ln() + 0.8 * z + 0.3 * e).exp()
                }
            }
            lab::UA => {
                if self.has("E79.0", d) {
                    8.3 + 0.8 * e
                } else {
                    (if male { 5.8 } else { 4.5 }) + 1.0 * z + 0.3 * e
                }
            }
            _ => 25.0 + 5.0 * z + 2.0 * e,
        };
        // Outliers: a small share of values far outside the usual range (hepatitis flares,
        // severe anaemia, uncontrolled diabetes, haemolysed samples).
        if self.rng.chance(0.003) {
            return match l {
                lab::AST | lab::ALT | lab::GGT | lab::TG | lab::CRP => {
                    v * self.rng.int(4, 15) as f64
                }
                lab::HB => self.rng.int(50, 75) as f64 / 10.0,
                lab::HBA1C => self.rng.int(110, 145) as f64 / 10.0,
                _ => v * 2.0,
            };
        }
        v
    }

    fn height_weight(&mut self, d: NaiveDate) -> (f64, f64) {
        let age = age_at(self.out.birth, d);
        let male = self.out.male;
        let h = interp(if male { HEIGHT_M } else { HEIGHT_F }, age) * (1.0 + 0.04 * self.z[15]);
        let wt = if age < 17.0 {
            interp(if male { WEIGHT_M } else { WEIGHT_F }, age)
                * (0.12 * self.z[16] + 0.03 * self.rng.normal()).exp()
        } else {
            let bmi = (if male { 23.7 } else { 22.0 }) + 3.3 * self.z[16] + 0.4 * self.rng.normal();
            bmi.max(14.0) * (h / 100.0).powi(2)
        };
        (h, wt)
    }

    fn bp(&mut self, d: NaiveDate) -> (f64, f64) {
        let age = age_at(self.out.birth, d);
        let mut sbp =
            108.0 + 0.45 * (age - 20.0).max(0.0) + 11.0 * self.z[17] + 6.0 * self.rng.normal();
        if self.has("I10", d) {
            sbp += 12.0;
        }
        let dbp = 0.55 * sbp + 8.0 + 5.0 * self.rng.normal();
        (sbp.round(), dbp.round())
    }

    fn vitals(&mut self, prov: u32, d: NaiveDate, enc: u32, temp: Option<f64>) {
        let (s, di) = self.bp(d);
        self.push(
            prov,
            d,
            enc,
            RecKind::Vital {
                item: item::SBP,
                value: s,
            },
        );
        self.push(
            prov,
            d,
            enc,
            RecKind::Vital {
                item: item::DBP,
                value: di,
            },
        );
        if temp.is_some() || self.rng.chance(0.3) {
            let pulse =
                (72.0 + 9.0 * self.rng.normal() + if temp.is_some() { 12.0 } else { 0.0 }).round();
            self.push(
                prov,
                d,
                enc,
                RecKind::Vital {
                    item: item::PULSE,
                    value: pulse,
                },
            );
        }
        if let Some(t) = temp {
            self.push(
                prov,
                d,
                enc,
                RecKind::Vital {
                    item: item::TEMP,
                    value: t,
                },
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn diagnosis(
        &mut self,
        prov: u32,
        d: NaiveDate,
        enc: u32,
        icd10: &'static str,
        name: &'static str,
        suspected: bool,
        main: bool,
    ) {
        self.push(
            prov,
            d,
            enc,
            RecKind::Diagnosis {
                icd10,
                name,
                suspected,
                main,
            },
        );
        if !suspected {
            self.seen_diag.insert((prov, icd10), ());
        }
        if self.w.providers[prov as usize].kind != ProviderKind::Pharmacy {
            self.claim(d, prov, "diagnosis", icd10, name, 1.0);
        }
    }

    fn prescribe(
        &mut self,
        prov: u32,
        d: NaiveDate,
        enc: u32,
        drugs: &[usize],
        days: u32,
        pharmacy: Option<u32>,
    ) {
        if drugs.is_empty() {
            return;
        }
        let order = self.next_order(prov);
        // Most clinics and hospitals issue prescriptions to outside pharmacies (院外処方).
        let outside = pharmacy.is_some() && !prov.is_multiple_of(5);
        for &drug in drugs {
            self.push(prov, d, enc, RecKind::Prescription { drug, days, order });
            if !outside {
                self.claim(
                    d,
                    prov,
                    "drug",
                    DRUGS[drug].yj,
                    DRUGS[drug].name,
                    f64::from(days),
                );
            }
        }
        if outside && let Some(ph) = pharmacy {
            let (code, name) = receipt::PRESCRIPTION;
            self.claim(d, prov, "procedure", code, name, 1.0);
            for &drug in drugs {
                self.push(
                    ph,
                    d,
                    0,
                    RecKind::Dispensing {
                        drug,
                        days,
                        prescriber: prov,
                    },
                );
                self.claim(
                    d,
                    ph,
                    "drug",
                    DRUGS[drug].yj,
                    DRUGS[drug].name,
                    f64::from(days),
                );
            }
            let (code, name) = receipt::DISPENSING;
            self.claim(d, ph, "procedure", code, name, 1.0);
        }
    }

    fn labs(&mut self, prov: u32, d: NaiveDate, enc: u32, labs: &[usize], infection: bool) {
        if labs.is_empty() {
            return;
        }
        let order = self.next_order(prov);
        for &l in labs {
            let value = self.lab_value(l, d, infection);
            self.push(
                prov,
                d,
                enc,
                RecKind::Lab {
                    lab: l,
                    value,
                    order,
                },
            );
        }
        let (code, name) = receipt::LAB;
        self.claim(d, prov, "procedure", code, name, 1.0);
    }

    fn encounter(
        &mut self,
        prov: u32,
        d: NaiveDate,
        end: NaiveDate,
        class: EncClass,
        dept: &'static str,
    ) -> u32 {
        let enc = self.next_enc(prov);
        self.push(prov, d, enc, RecKind::Encounter { class, end, dept });
        let (code, name) = match class {
            EncClass::Inpatient => receipt::INPATIENT,
            _ if enc == 1 => receipt::FIRST_VISIT,
            _ => receipt::RETURN_VISIT,
        };
        let qty = if class == EncClass::Inpatient {
            ((end - d).num_days() + 1) as f64
        } else {
            1.0
        };
        self.claim(d, prov, "procedure", code, name, qty);
        enc
    }

    fn medical(&mut self) {
        let (from, to) = self.alive_window();
        if from > to {
            return;
        }
        let clinics = self.regular(ProviderKind::Clinic);
        let hospitals = self.regular(ProviderKind::Hospital);
        let pharmacies = self.regular(ProviderKind::Pharmacy);

        // Chronic care at the home clinic.
        let interval: i64 = [28, 28, 56, 84][self.rng.index(4)];
        let clinic_conds: Vec<usize> = CONDITIONS
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.care == Care::Clinic && self.out.conditions.iter().any(|t| t.icd10 == c.icd10)
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(first) = clinic_conds
            .iter()
            .filter_map(|&i| {
                self.out
                    .conditions
                    .iter()
                    .find(|t| t.icd10 == CONDITIONS[i].icd10)
                    .map(|t| t.onset)
            })
            .min()
        {
            let mut d = add_days(first.max(from), self.rng.int(0, 20));
            let mut visit = 0u32;
            let mut pending_confirm: Vec<(u32, usize)> = Vec::new();
            while d <= to {
                if let Some(prov) = Self::at(&clinics, d).filter(|_| !self.rng.chance(0.05)) {
                    visit += 1;
                    let enc = self.encounter(prov, d, d, EncClass::Outpatient, "内科");
                    let active: Vec<usize> = clinic_conds
                        .iter()
                        .copied()
                        .filter(|&i| self.has(CONDITIONS[i].icd10, d))
                        .collect();
                    for (k, &i) in active.iter().enumerate() {
                        let c = &CONDITIONS[i];
                        if let Some(pos) = pending_confirm
                            .iter()
                            .position(|&(p, j)| p == prov && j == i)
                        {
                            pending_confirm.remove(pos);
                            self.diagnosis(prov, d, enc, c.icd10, c.name, false, k == 0);
                        } else if !self.seen_diag.contains_key(&(prov, c.icd10)) {
                            let suspected = self.rng.chance(0.1);
                            self.diagnosis(prov, d, enc, c.icd10, c.name, suspected, k == 0);
                            if suspected {
                                pending_confirm.push((prov, i));
                            }
                        }
                    }
                    let mut drugs = Vec::new();
                    let mut labs = Vec::new();
                    for &i in &active {
                        let c = &CONDITIONS[i];
                        if let Some(&first_drug) = c.drugs.first() {
                            drugs.push(first_drug);
                        }
                        if c.drugs.len() > 1 && self.z[i % 20] > 0.3 {
                            drugs.push(c.drugs[1]);
                        }
                        let every = if c.icd10 == "E11.9" { 1 } else { 3 };
                        if visit.is_multiple_of(every) {
                            for &l in c.labs {
                                if !labs.contains(&l) {
                                    labs.push(l);
                                }
                            }
                        }
                    }
                    let pharmacy = Self::at(&pharmacies, d);
                    self.prescribe(prov, d, enc, &drugs, interval as u32, pharmacy);
                    self.labs(prov, d, enc, &labs, false);
                    self.vitals(prov, d, enc, None);
                }
                d = add_days(d, interval + self.rng.int(-3, 3));
            }
        }

        // Hospital-treated conditions (cancers) and specialist follow-up (rare diseases).
        for (ci, c) in CONDITIONS.iter().enumerate() {
            if c.care == Care::Clinic {
                continue;
            }
            let Some(onset) = self
                .out
                .conditions
                .iter()
                .find(|t| t.icd10 == c.icd10)
                .map(|t| t.onset)
            else {
                continue;
            };
            let mut d = if c.care == Care::Hospital && onset >= from {
                let adm = add_days(onset, self.rng.int(7, 30));
                if adm <= to
                    && let Some(h) = Self::at(&hospitals, adm)
                {
                    let los = self.rng.int(8, 21);
                    let dis = add_days(adm, los).min(to);
                    let enc = self.encounter(h, adm, dis, EncClass::Inpatient, "外科");
                    self.push(
                        h,
                        adm,
                        enc,
                        RecKind::Vital {
                            item: item::TEMP,
                            value: 36.6,
                        },
                    );
                    self.diagnosis(h, adm, enc, c.icd10, c.name, false, true);
                    self.labs(
                        h,
                        adm,
                        enc,
                        &[
                            lab::HB,
                            lab::WBC,
                            lab::CRP,
                            lab::CRE,
                            lab::EGFR,
                            lab::AST,
                            lab::ALT,
                        ],
                        false,
                    );
                    self.prescribe(h, dis, enc, c.drugs, 28, None);
                }
                add_days(adm, 90)
            } else {
                add_days(onset.max(from), self.rng.int(0, 89))
            };
            let stop = if c.care == Care::Hospital {
                add_days(onset, 5 * 365)
            } else {
                to
            };
            while d <= to.min(stop) {
                if let Some(h) = Self::at(&hospitals, d) {
                    let dept = if c.care == Care::Hospital {
                        "腫瘍内科"
                    } else {
                        "神経内科"
                    };
                    let enc = self.encounter(h, d, d, EncClass::Outpatient, dept);
                    if !self.seen_diag.contains_key(&(h, c.icd10)) {
                        self.diagnosis(h, d, enc, c.icd10, c.name, false, true);
                    }
                    let pharmacy = Self::at(&pharmacies, d);
                    self.prescribe(h, d, enc, c.drugs, 90, pharmacy);
                    self.labs(h, d, enc, c.labs, false);
                    self.vitals(h, d, enc, None);
                }
                d = add_days(d, 90 + self.rng.int(-7, 7));
                let _ = ci;
            }
        }

        // Acute episodes.
        let mut year = from;
        while year <= to {
            let year_end = add_days(year, 364).min(to);
            let frac = ((year_end - year).num_days() + 1) as f64 / 365.0;
            let age = age_at(self.out.birth, year);
            for (ai, a) in ACUTES.iter().enumerate() {
                if year_end.year() < a.from_year {
                    continue;
                }
                let mut rate = interp(if self.out.male { a.male } else { a.female }, age);
                if ai == clinical::DELIVERY && self.out.male {
                    rate = 0.0;
                }
                if a.icd10 == "S72.0" && self.has("M81.0", year) {
                    rate *= 2.0;
                }
                if (a.icd10 == "I21.9" || a.icd10 == "I63.9")
                    && (self.has("I10", year) || self.has("E11.9", year))
                {
                    rate *= 1.5;
                }
                let n = self
                    .rng
                    .poisson(rate * frac)
                    .min(if ai == clinical::DELIVERY { 1 } else { 6 });
                for _ in 0..n {
                    let lo = if a.from_year > 0 {
                        year.max(NaiveDate::from_ymd_opt(a.from_year, 2, 1).unwrap_or(year))
                    } else {
                        year
                    };
                    if lo > year_end {
                        continue;
                    }
                    let d = date_in(&mut self.rng, lo, year_end);
                    self.out.conditions.push(TrueCondition {
                        icd10: a.icd10,
                        name: a.name,
                        onset: d,
                    });
                    self.episode(ai, d, to, &clinics, &hospitals, &pharmacies);
                }
            }
            year = add_days(year_end, 1);
        }
    }

    fn episode(
        &mut self,
        ai: usize,
        d: NaiveDate,
        to: NaiveDate,
        clinics: &[(NaiveDate, Option<u32>)],
        hospitals: &[(NaiveDate, Option<u32>)],
        pharmacies: &[(NaiveDate, Option<u32>)],
    ) {
        let a = &ACUTES[ai];
        let infection = matches!(a.icd10.as_bytes()[0], b'J' | b'A' | b'N' | b'U');
        let pharmacy = Self::at(pharmacies, d);
        let suspected = self.rng.chance(a.suspected);
        let fever = if infection {
            Some((37.8 + 0.7 * self.rng.normal()).clamp(36.5, 40.5))
        } else {
            None
        };
        match a.setting {
            Setting::Outpatient => {
                let pref = self.pref_at(d);
                let prov = if self.rng.chance(0.5) {
                    Self::at(clinics, d)
                } else {
                    None
                }
                .or_else(|| self.w.choose(&mut self.rng, ProviderKind::Clinic, pref));
                let Some(prov) = prov else { return };
                let dept = if age_at(self.out.birth, d) < 15.0 {
                    "小児科"
                } else {
                    "内科"
                };
                let enc = self.encounter(prov, d, d, EncClass::Outpatient, dept);
                self.diagnosis(prov, d, enc, a.icd10, a.name, suspected, true);
                let days = self.rng.int(3, 7) as u32;
                self.prescribe(prov, d, enc, a.drugs, days, pharmacy);
                if infection && self.rng.chance(0.3) {
                    self.labs(prov, d, enc, &[lab::WBC, lab::CRP], true);
                }
                self.vitals(prov, d, enc, fever);
            }
            Setting::HospitalOutpatient => {
                let Some(h) = Self::at(hospitals, d) else {
                    return;
                };
                let enc = self.encounter(h, d, d, EncClass::Outpatient, "整形外科");
                self.diagnosis(h, d, enc, a.icd10, a.name, suspected, true);
                if suspected {
                    let follow = add_days(d, 7);
                    if follow <= to {
                        let enc2 =
                            self.encounter(h, follow, follow, EncClass::Outpatient, "整形外科");
                        self.diagnosis(h, follow, enc2, a.icd10, a.name, false, true);
                    }
                }
                self.prescribe(h, d, enc, a.drugs, 14, pharmacy);
                self.vitals(h, d, enc, None);
            }
            Setting::Inpatient(los) | Setting::Emergency(los) => {
                let Some(h) = Self::at(hospitals, d) else {
                    return;
                };
                let stay = ((f64::from(los) * (0.5 + self.rng.f())).round() as i64).max(2);
                let dis = add_days(d, stay).min(to);
                let dept = match a.icd10 {
                    "O80" => "産婦人科",
                    "S72.0" => "整形外科",
                    "I21.9" => "循環器内科",
                    "I63.9" => "脳神経外科",
                    "K35.8" => "外科",
                    _ => "内科",
                };
                if matches!(a.setting, Setting::Emergency(_)) {
                    let er = self.encounter(h, d, d, EncClass::Emergency, "救急科");
                    self.diagnosis(h, d, er, a.icd10, a.name, suspected, true);
                    self.labs(
                        h,
                        d,
                        er,
                        &[
                            lab::HB,
                            lab::WBC,
                            lab::CRP,
                            lab::CRE,
                            lab::EGFR,
                            lab::AST,
                            lab::ALT,
                        ],
                        infection,
                    );
                    self.vitals(h, d, er, fever);
                    let enc = self.encounter(h, d, dis, EncClass::Inpatient, dept);
                    self.diagnosis(h, d, enc, a.icd10, a.name, false, true);
                } else {
                    let enc = self.encounter(h, d, dis, EncClass::Inpatient, dept);
                    self.diagnosis(h, d, enc, a.icd10, a.name, suspected, true);
                    if suspected {
                        self.diagnosis(
                            h,
                            add_days(d, 1).min(dis),
                            enc,
                            a.icd10,
                            a.name,
                            false,
                            true,
                        );
                    }
                    self.labs(
                        h,
                        d,
                        enc,
                        &[lab::HB, lab::WBC, lab::CRP, lab::CRE, lab::EGFR],
                        infection,
                    );
                    self.vitals(h, d, enc, fever);
                    if !a.drugs.is_empty() {
                        self.prescribe(h, dis, enc, a.drugs, 7, None);
                    }
                }
            }
        }
    }

    fn checkups(&mut self) {
        let (from, to) = self.alive_window();
        if from > to {
            return;
        }
        // Infant check-ups by the municipality of residence.
        for (months, program) in [
            (4u32, Program::Infant4m),
            (18, Program::Infant18m),
            (36, Program::Infant3y),
        ] {
            let Some(d) = self
                .out
                .birth
                .checked_add_months(chrono::Months::new(months))
            else {
                continue;
            };
            let d = add_days(d, self.rng.int(0, 30));
            if d < from || d > to || !self.rng.chance(0.95) {
                continue;
            }
            let gov = self.gov_at(d);
            let Some(&m) = self.w.municipality_of.get(&gov) else {
                continue;
            };
            let (h, wt) = self.height_weight(d);
            self.push(
                m,
                d,
                0,
                RecKind::Checkup {
                    program,
                    lab: false,
                    index: item::HEIGHT,
                    value: h,
                },
            );
            self.push(
                m,
                d,
                0,
                RecKind::Checkup {
                    program,
                    lab: false,
                    index: item::WEIGHT,
                    value: wt,
                },
            );
            if months <= 18 {
                let head = if months == 4 { 40.5 } else { 46.5 } + 1.3 * self.rng.normal();
                self.push(
                    m,
                    d,
                    0,
                    RecKind::Checkup {
                        program,
                        lab: false,
                        index: item::HEAD,
                        value: head,
                    },
                );
            }
        }
        // School check-ups (April–June) for ages 6–17 on April 1.
        let private = self.rng.chance(0.1);
        for y in from.year()..=to.year() {
            let Some(april) = NaiveDate::from_ymd_opt(y, 4, 1) else {
                continue;
            };
            let age = years_int(self.out.birth, april);
            if !(6..=17).contains(&age) {
                continue;
            }
            let Some(lo) = NaiveDate::from_ymd_opt(y, 4, 15) else {
                continue;
            };
            let Some(hi) = NaiveDate::from_ymd_opt(y, 6, 30) else {
                continue;
            };
            let d = date_in(&mut self.rng, lo, hi);
            if d < from || d > to {
                continue;
            }
            let prov = if private || age >= 15 {
                let pref = self.pref_at(d);
                if private {
                    self.w
                        .choose(&mut self.rng, ProviderKind::SchoolOperator, pref)
                } else {
                    None
                }
            } else {
                self.w.school_board_of.get(&self.gov_at(d)).copied()
            };
            let Some(s) = prov else { continue };
            let (h, wt) = self.height_weight(d);
            self.push(
                s,
                d,
                0,
                RecKind::Checkup {
                    program: Program::School,
                    lab: false,
                    index: item::HEIGHT,
                    value: h,
                },
            );
            self.push(
                s,
                d,
                0,
                RecKind::Checkup {
                    program: Program::School,
                    lab: false,
                    index: item::WEIGHT,
                    value: wt,
                },
            );
        }
        // 特定健診 by the insurer, ages 40–74, about half take part each year.
        for y in from.year()..=to.year() {
            let Some(lo) = NaiveDate::from_ymd_opt(y, 6, 1) else {
                continue;
            };
            let Some(hi) = NaiveDate::from_ymd_opt(y, 12, 20) else {
                continue;
            };
            let d = date_in(&mut self.rng, lo, hi);
            let age = years_int(self.out.birth, d);
            if d < from || d > to || !(40..=74).contains(&age) || !self.rng.chance(0.55) {
                continue;
            }
            let ins = self.out.span_at(d).ins.insurer;
            let Some(p) = self.w.insurers[ins as usize].provider else {
                continue;
            };
            let (h, wt) = self.height_weight(d);
            let bmi = wt / (h / 100.0).powi(2);
            let waist =
                50.0 + 1.45 * bmi + 3.0 * self.rng.normal() + if self.out.male { 4.0 } else { 0.0 };
            let (s, di) = self.bp(d);
            let prog = Program::Tokutei;
            for (index, value) in [
                (item::HEIGHT, h),
                (item::WEIGHT, wt),
                (item::BMI, bmi),
                (item::WAIST, waist),
                (item::SBP, s),
                (item::DBP, di),
            ] {
                self.push(
                    p,
                    d,
                    0,
                    RecKind::Checkup {
                        program: prog,
                        lab: false,
                        index,
                        value,
                    },
                );
            }
            for l in [
                lab::HBA1C,
                lab::GLU,
                lab::LDL,
                lab::HDL,
                lab::TG,
                lab::AST,
                lab::ALT,
                lab::GGT,
                lab::CRE,
                lab::EGFR,
            ] {
                let value = self.lab_value(l, d, false);
                self.push(
                    p,
                    d,
                    0,
                    RecKind::Checkup {
                        program: prog,
                        lab: true,
                        index: l,
                        value,
                    },
                );
            }
        }
    }

    fn care(&mut self) {
        let (from, to) = self.alive_window();
        let u = self.rng.f();
        let mut start =
            onset_age(CARE_NEED, u).map(|a| add_days(self.out.birth, (a * 365.25) as i64));
        let dementia = self
            .out
            .conditions
            .iter()
            .filter(|c| matches!(c.icd10, "G30.9" | "F01.9" | "F03"))
            .map(|c| add_days(c.onset, 365))
            .min();
        start = match (start, dementia) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(start) = start else { return };
        let mut level: u8 = if dementia.is_some() {
            2
        } else {
            self.rng.int(0, 2) as u8
        };
        let Some(mut month) =
            NaiveDate::from_ymd_opt(start.max(from).year(), start.max(from).month(), 1)
        else {
            return;
        };
        let mut facility: Option<(u8, u32)> = None;
        while month <= to {
            let pref = self.pref_at(month);
            if facility.is_none_or(|(p, _)| p != pref) {
                facility = self
                    .w
                    .choose(&mut self.rng, ProviderKind::CareFacility, pref)
                    .map(|f| (pref, f));
            }
            let Some((_, f)) = facility else { break };
            if self.rng.chance(0.04) && level < 5 {
                level += 1;
            }
            let service = match level {
                0 | 1 => 0,
                2 => [0, 1, 2][self.rng.index(3)],
                _ => [3, 4][self.rng.index(2)],
            };
            let units = (f64::from(CARE_SERVICES[service].2) * (0.8 + 0.4 * self.rng.f())) as u32;
            self.push(
                f,
                month,
                0,
                RecKind::Care {
                    service,
                    level,
                    units,
                },
            );
            let Some(next) = month.checked_add_months(chrono::Months::new(1)) else {
                break;
            };
            month = next;
        }
    }

    /// Records are generated condition by condition; providers number encounters, orders and
    /// claims in time order. Sort by date (stable) and renumber in order of appearance, so that
    /// the first encounter at a facility is the one billed as 初診.
    fn chronological(&mut self) {
        self.out.recs.sort_by_key(|r| r.date);
        let mut enc_map: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut enc_next: BTreeMap<u32, u32> = BTreeMap::new();
        let mut order_map: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut order_next: BTreeMap<u32, u32> = BTreeMap::new();
        let mut claim_map: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut claim_next: BTreeMap<u32, u32> = BTreeMap::new();
        let mut line_next: BTreeMap<(u32, u32), u32> = BTreeMap::new();
        let mut billed: std::collections::BTreeSet<(u32, u32)> = std::collections::BTreeSet::new();
        fn renumber(
            map: &mut BTreeMap<(u32, u32), u32>,
            next: &mut BTreeMap<u32, u32>,
            prov: u32,
            old: u32,
        ) -> u32 {
            *map.entry((prov, old)).or_insert_with(|| {
                let n = next.entry(prov).or_insert(0);
                *n += 1;
                *n
            })
        }
        for r in &mut self.out.recs {
            if r.enc != 0 {
                r.enc = renumber(&mut enc_map, &mut enc_next, r.prov, r.enc);
            }
            match &mut r.kind {
                RecKind::Prescription { order, .. } | RecKind::Lab { order, .. } => {
                    *order = renumber(&mut order_map, &mut order_next, r.prov, *order);
                }
                RecKind::Claim {
                    claim,
                    facility,
                    line,
                    kind,
                    code,
                    name,
                    ..
                } => {
                    *claim = renumber(&mut claim_map, &mut claim_next, r.prov, *claim);
                    let l = line_next.entry((r.prov, *claim)).or_insert(0);
                    *l += 1;
                    *line = *l;
                    let visit = (*code, *name) == receipt::FIRST_VISIT
                        || (*code, *name) == receipt::RETURN_VISIT;
                    if *kind == "procedure" && visit {
                        let first = billed.insert((r.prov, *facility));
                        (*code, *name) = if first {
                            receipt::FIRST_VISIT
                        } else {
                            receipt::RETURN_VISIT
                        };
                    }
                }
                _ => {}
            }
        }
    }

    /// Render how each provider holds the identity.
    fn identities(&mut self) {
        let mut ranges: BTreeMap<u32, (NaiveDate, NaiveDate)> = BTreeMap::new();
        for r in &self.out.recs {
            let e = ranges.entry(r.prov).or_insert((r.date, r.date));
            e.0 = e.0.min(r.date);
            e.1 = e.1.max(r.date);
        }
        for (prov, (first, last)) in ranges {
            let identity = self.held(prov, first, last);
            self.out.links.insert(
                prov,
                Link {
                    first,
                    last,
                    identity,
                },
            );
        }
    }

    fn held(&mut self, prov: u32, first: NaiveDate, last: NaiveDate) -> HeldIdentity {
        let p = &self.w.providers[prov as usize];
        let style = p.style;
        let n = &self.cfg.noise;
        let first_span = self.out.span_at(first).clone();
        let last_span = self.out.span_at(last).clone();
        let mut h = HeldIdentity {
            id: p.local_id(self.out.index),
            ..Default::default()
        };

        let family_idx =
            if first_span.family != last_span.family && self.rng.chance(n.outdated_family_name) {
                h.outdated_family = true;
                first_span.family
            } else {
                last_span.family
            };
        let addr_span = if (first_span.row, &first_span.block) != (last_span.row, &last_span.block)
            && self.rng.chance(n.outdated_address)
        {
            h.outdated_address = true;
            &first_span
        } else {
            &last_span
        };
        let fam = &self.r.family[family_idx as usize];
        let given = if self.out.male {
            &self.r.given_male[self.out.given as usize]
        } else {
            &self.r.given_female[self.out.given as usize]
        };
        let mut family = fam.kanji.clone();
        let mut given_k = given.kanji.clone();
        let family_kana = fam.kana.clone();
        let mut given_kana = given.kana.clone();
        if (noise::has_variant(&family) || noise::has_variant(&given_k))
            && self.rng.chance(n.variant_kanji)
        {
            h.variant = true;
            if noise::has_variant(&family) {
                family = noise::swap_variant(&family);
            } else {
                given_k = noise::swap_variant(&given_k);
            }
        }
        if self.rng.chance(n.name_typo) {
            let list = if self.out.male {
                &self.r.given_male
            } else {
                &self.r.given_female
            };
            // A different kanji spelling of the same reading (誤変換), else a kana slip.
            let start = self.rng.index(list.len());
            let alt = (0..list.len())
                .map(|k| &list[(start + k) % list.len()])
                .find(|g| g.kana == given.kana && g.kanji != given.kanji);
            if let Some(alt) = alt {
                given_k = alt.kanji.clone();
                h.typo = true;
            } else if let Some(s) = noise::kana_slip(&given_kana, self.rng.index(8)) {
                given_kana = s;
                h.typo = true;
            }
        }
        if self.rng.chance(n.space_in_name) {
            let chars: Vec<char> = family.chars().collect();
            family = if chars.len() == 2 {
                format!("{}　{}", chars[0], chars[1])
            } else {
                format!("{family} ")
            };
        }
        let kana = |s: &str| match style.kana {
            KanaStyle::Katakana => s.to_owned(),
            KanaStyle::HalfWidth => noise::to_half_width(s),
            KanaStyle::Hiragana => noise::to_hiragana(s),
        };
        h.family = family;
        h.given = given_k;
        h.family_kana = kana(&family_kana);
        h.given_kana = kana(&given_kana);

        let mut birth = self.out.birth;
        if self.rng.chance(n.birth_date_typo) {
            let (m, d) = (birth.month(), birth.day());
            birth = if d <= 12 && m != d {
                NaiveDate::from_ymd_opt(birth.year(), d, m).unwrap_or(birth)
            } else {
                add_days(birth, if self.rng.chance(0.5) { 1 } else { -1 })
            };
        }
        h.birth = birth;
        h.birth_text = match style.date {
            DateStyle::Iso => birth.format("%Y-%m-%d").to_string(),
            DateStyle::Slash => birth.format("%Y/%m/%d").to_string(),
            DateStyle::Compact => birth.format("%Y%m%d").to_string(),
            DateStyle::Era(es) => {
                era::format(birth, es).unwrap_or_else(|| birth.format("%Y-%m-%d").to_string())
            }
        };
        h.sex_text = match (style.sex, self.out.male) {
            (SexCoding::Digit, true) => "1",
            (SexCoding::Digit, false) => "2",
            (SexCoding::Letter, true) => "M",
            (SexCoding::Letter, false) => "F",
            (SexCoding::Kanji, true) => "男",
            (SexCoding::Kanji, false) => "女",
            (SexCoding::Word, true) => "male",
            (SexCoding::Word, false) => "female",
        }
        .to_owned();
        let row = &self.r.postal[addr_span.row as usize];
        let postal = if style.postal_hyphen {
            format!("{}-{}", &row.code[..3], &row.code[3..])
        } else {
            row.code.clone()
        };
        let address = format!(
            "{}{}{}{}",
            PREFECTURES[row.pref as usize].name,
            self.r.municipalities[row.muni as usize].name,
            row.town,
            addr_span.block
        );
        let phone_src = if h.outdated_address {
            &first_span.phone
        } else {
            &last_span.phone
        };
        let phone = match phone_src {
            Some(ph) if self.rng.chance(n.missing_phone) => {
                h.missing_phone = true;
                let _ = ph;
                String::new()
            }
            Some(ph) => ph.clone(),
            None => String::new(),
        };
        let digits = |s: String| {
            if style.full_width_digits {
                noise::to_full_width_digits(&s)
            } else {
                s
            }
        };
        h.postal = digits(postal);
        h.address = digits(address);
        h.phone = digits(phone);
        let ins = &last_span.ins;
        h.insurer = ins.insurer;
        h.insurer_number = self.w.insurers[ins.insurer as usize].number.clone();
        h.symbol = ins.symbol.clone();
        h.number = ins.number.clone();
        h.branch = ins.branch.clone();
        h
    }

    fn ledger(&mut self) {
        let end = self.cfg.end;
        let links: Vec<(u32, NaiveDate)> =
            self.out.links.iter().map(|(p, l)| (*p, l.first)).collect();
        for (prov, first) in &links {
            if !self.rng.chance(self.cfg.notice_rate) {
                continue;
            }
            let filing = self.w.providers[*prov as usize].filing_date;
            // Most notices precede the data by more than the wait; a few come too recently for
            // the person to be eligible yet at the end of the period.
            let date = if self.rng.chance(0.03) {
                add_days(end, -self.rng.int(0, 20))
            } else {
                let base = filing.max(add_days(*first, -self.rng.int(30, 400)));
                base.min(add_days(end, -31))
            };
            let channel =
                ["letter", "in_person", "poster_portal"][self.rng.pick_weighted(&[0.3, 0.5, 0.2])];
            self.out.notices.push(Notice {
                prov: *prov,
                date,
                channel,
            });
        }
        if links.is_empty() || !self.rng.chance(self.cfg.stop_rate) {
            return;
        }
        let (prov, first) = links[self.rng.index(links.len())];
        let (requester, relationship, day) = match self.out.death {
            Some(death) if self.rng.chance(0.5) => {
                let rel = [
                    "spouse",
                    "child",
                    "parent",
                    "grandchild",
                    "grandparent",
                    "sibling",
                ][self.rng.pick_weighted(&[0.4, 0.4, 0.05, 0.05, 0.02, 0.08])];
                let d = add_days(death, self.rng.int(7, 180)).min(end);
                ("bereaved", rel, d)
            }
            _ => {
                let d = date_in(&mut self.rng, first, self.out.death.unwrap_or(end).min(end));
                let requester = if years_int(self.out.birth, d) < 16 {
                    "guardian"
                } else {
                    "person"
                };
                (requester, "", d)
            }
        };
        let secs = self.rng.int(9 * 3600, 17 * 3600) as u32;
        let time =
            chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap_or_default();
        self.out.stop = Some(StopRequest {
            prov,
            requester,
            relationship,
            received_at: day.and_time(time),
        });
    }
}

/// Names and kana of a person's true identity at a span.
pub fn true_names<'r>(
    r: &'r Reference,
    p: &PersonOut,
    s: &Span,
) -> (&'r str, &'r str, &'r str, &'r str) {
    let f = &r.family[s.family as usize];
    let g = if p.male {
        &r.given_male[p.given as usize]
    } else {
        &r.given_female[p.given as usize]
    };
    (&f.kanji, &g.kanji, &f.kana, &g.kana)
}

/// A true address at a span: (postal code, full address).
pub fn true_address(r: &Reference, s: &Span) -> (String, String) {
    let row = &r.postal[s.row as usize];
    (
        row.code.clone(),
        format!(
            "{}{}{}{}",
            PREFECTURES[row.pref as usize].name,
            r.municipalities[row.muni as usize].name,
            row.town,
            s.block
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onset_follows_the_running_maximum() {
        let c: clinical::Curve = &[(20.0, 0.0), (40.0, 0.2), (60.0, 0.1)];
        assert_eq!(onset_age(c, 0.1), Some(30.0));
        assert_eq!(onset_age(c, 0.3), None);
        let flat: clinical::Curve = &[(0.0, 0.5)];
        assert_eq!(onset_age(flat, 0.2), Some(0.0));
        assert_eq!(onset_age(flat, 0.7), None);
    }

    #[test]
    fn era_dates_round_trip_through_the_model_parser() {
        let d = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for style in [era::EraStyle::Kanji, era::EraStyle::Letter] {
            let s = era::format(d, style).unwrap();
            assert_eq!(tsunagu_model::era::parse_date(&s).unwrap(), d, "{s}");
        }
    }
}
