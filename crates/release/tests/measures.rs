//! The five measures and the attack test, proven by trying to break them on released tables
//! built by hand: each planted problem must fail its measure, and a clean release must pass all
//! five.

use std::collections::HashSet;

use chrono::NaiveDate;
use tsunagu_release::attack::{self, AttackInput, AttackParams, Known, KnownDiagnosis};
use tsunagu_release::dataset::{ColumnRole, OutColumn, OutTable, Released, Values};
use tsunagu_release::measures::{self, AreaLevel, CheckContext, Mode};
use tsunagu_release::report::{MeasureVerdict, Verdict};

fn col(name: &str, role: ColumnRole, values: Vec<&str>) -> OutColumn {
    OutColumn {
        name: name.into(),
        role,
        description_ja: String::new(),
        description_en: String::new(),
        values: Values::Text(values.into_iter().map(|v| Some(v.to_owned())).collect()),
    }
}

fn text_col(name: &str, role: ColumnRole, values: Vec<String>) -> OutColumn {
    OutColumn {
        name: name.into(),
        role,
        description_ja: String::new(),
        description_en: String::new(),
        values: Values::Text(values.into_iter().map(Some).collect()),
    }
}

fn pid(i: usize) -> String {
    format!("p-{:016x}", 0x1000_0000_u64 * 7 + i as u64 * 0x9e37)
}

fn rid(i: usize) -> String {
    format!("r-{:016x}", 0xabc0_0000_u64 + i as u64 * 0x1f3)
}

/// 40 persons in 8 classes of 5 on (sex, age band, prefecture); diagnoses: everyone E11,
/// half I10 and half J45, so every set of at most 2 codes is held by ≥ 5 persons.
struct Clean {
    sex: Vec<String>,
    age: Vec<String>,
    area: Vec<String>,
    dx: Vec<(usize, String, String)>,
}

impl Clean {
    fn new() -> Self {
        let mut c = Clean {
            sex: Vec::new(),
            age: Vec::new(),
            area: Vec::new(),
            dx: Vec::new(),
        };
        for i in 0..40 {
            c.sex.push(if i % 2 == 0 { "M" } else { "F" }.into());
            c.age
                .push(if (i / 2) % 2 == 0 { "40-49" } else { "90+" }.into());
            c.area.push(
                if (i / 4) % 2 == 0 {
                    "東京都"
                } else {
                    "大阪府"
                }
                .into(),
            );
            c.dx.push((i, "E11".into(), "2021-03".into()));
            let other = if i < 20 { "I10" } else { "J45" };
            c.dx.push((i, other.into(), "2022-07".into()));
        }
        c
    }

    fn released(&self) -> Released {
        let n = self.sex.len();
        let persons = OutTable {
            name: "persons".into(),
            columns: vec![
                text_col(
                    "person_id",
                    ColumnRole::Pseudonym,
                    (0..n).map(pid).collect(),
                ),
                text_col("sex", ColumnRole::QuasiIdentifier, self.sex.clone()),
                text_col("age", ColumnRole::QuasiIdentifier, self.age.clone()),
                text_col("area", ColumnRole::QuasiIdentifier, self.area.clone()),
            ],
        };
        let conditions = OutTable {
            name: "conditions".into(),
            columns: vec![
                text_col(
                    "person_id",
                    ColumnRole::Pseudonym,
                    self.dx.iter().map(|d| pid(d.0)).collect(),
                ),
                text_col(
                    "record_id",
                    ColumnRole::Pseudonym,
                    (0..self.dx.len()).map(rid).collect(),
                ),
                text_col(
                    "icd10",
                    ColumnRole::Code,
                    self.dx.iter().map(|d| d.1.clone()).collect(),
                ),
                text_col(
                    "onset",
                    ColumnRole::Date,
                    self.dx.iter().map(|d| d.2.clone()).collect(),
                ),
            ],
        };
        Released {
            tables: vec![persons, conditions],
        }
    }
}

fn ctx() -> CheckContext {
    let mut c = CheckContext::anonymized_defaults();
    c.extract_ids = (0..40)
        .flat_map(|i| {
            [
                format!("per-{:010}", i + 1),
                format!("rec-{:024x}", i * 977 + 5),
                format!("prv-0000000{:03}", i),
            ]
        })
        .collect::<HashSet<_>>();
    c
}

fn add_column(r: &mut Released, table: &str, c: OutColumn) {
    if let Some(t) = r.tables.iter_mut().find(|t| t.name == table) {
        t.columns.push(c);
    }
}

fn set(r: &mut Released, table: &str, column: &str, row: usize, v: &str) {
    let c = r
        .tables
        .iter_mut()
        .find(|t| t.name == table)
        .and_then(|t| t.columns.iter_mut().find(|c| c.name == column));
    if let Some(OutColumn {
        values: Values::Text(v0),
        ..
    }) = c
    {
        v0[row] = Some(v.to_owned());
    } else {
        panic!("no text column {table}.{column}");
    }
}

fn failed_rules(v: &MeasureVerdict) -> Vec<String> {
    v.findings
        .iter()
        .filter(|f| f.count > 0)
        .map(|f| f.rule.clone())
        .collect()
}

/// No finding may carry the planted value.
fn assert_no_value(v: &[MeasureVerdict], planted: &str) {
    let json = serde_json::to_string(v).unwrap_or_default();
    assert!(!json.contains(planted), "a finding copies the value");
}

#[test]
fn clean_release_passes_all_five() {
    let r = Clean::new().released();
    let v = measures::check(&r, &ctx());
    assert_eq!(v.len(), 5);
    assert_eq!(
        v.iter().map(|m| m.measure).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for m in &v {
        assert_eq!(
            m.verdict,
            Verdict::Pass,
            "measure {}: {:?}",
            m.measure,
            m.findings
        );
        assert!(!m.title_ja.is_empty() && !m.title_en.is_empty());
    }
    let k = measures::k_anonymity(&r, &ctx()).unwrap_or_else(|| panic!("k"));
    assert!(k.holds);
    assert_eq!(k.min_class_size, 5);
    assert_eq!(k.equivalence_classes, 8);
    let km = measures::km_anonymity(&r, &ctx()).unwrap_or_else(|| panic!("km"));
    assert!(km.holds, "{km:?}");
}

#[test]
fn planted_my_number_in_free_text_fails_measure_2() {
    let mut r = Clean::new().released();
    let mut notes = vec!["経過良好".to_owned(); 80];
    notes[17] = "本人確認 マイナンバー １２３４ ５６７８ ９０１８ 提示".into();
    add_column(
        &mut r,
        "conditions",
        text_col("note", ColumnRole::Attribute, notes),
    );
    let v = measures::check(&r, &ctx());
    assert_eq!(v[1].verdict, Verdict::Fail);
    assert!(failed_rules(&v[1]).contains(&"my_number".to_owned()));
    let f = &v[1].findings[0];
    assert_eq!(
        (f.table.as_str(), f.column.as_deref(), f.count),
        ("conditions", Some("note"), 1)
    );
    assert_no_value(&v, "9018");
    // A wrong check digit is not a My Number.
    let mut r = Clean::new().released();
    let mut notes = vec!["経過良好".to_owned(); 80];
    notes[17] = "番号 123456789019".into();
    add_column(
        &mut r,
        "conditions",
        text_col("memo", ColumnRole::Attribute, notes),
    );
    let v = measures::check(&r, &ctx());
    assert!(!failed_rules(&v[1]).contains(&"my_number".to_owned()));
}

#[test]
fn other_identification_codes_fail_measure_2() {
    for planted in [
        "旅券 TK1234567",
        "保険者番号 33120015",
        "免許証番号 459803358720",
    ] {
        let mut r = Clean::new().released();
        let mut notes = vec![String::new(); 80];
        notes[3] = planted.to_owned();
        add_column(
            &mut r,
            "conditions",
            text_col("note", ColumnRole::Attribute, notes),
        );
        let v = measures::check(&r, &ctx());
        assert_eq!(v[1].verdict, Verdict::Fail, "{planted}");
    }
}

#[test]
fn a_103_year_old_fails_measure_4() {
    let mut r = Clean::new().released();
    set(&mut r, "persons", "age", 3, "103");
    let v = measures::check(&r, &ctx());
    assert_eq!(v[3].verdict, Verdict::Fail);
    assert!(failed_rules(&v[3]).contains(&"age_top_code".to_owned()));
    // The top band itself is fine, and so is a band below the threshold; a band reaching past it
    // is not.
    for (age, ok) in [
        ("90+", true),
        ("80-89", true),
        ("85-94", false),
        ("100+", false),
    ] {
        let mut r = Clean::new().released();
        set(&mut r, "persons", "age", 3, age);
        let v = measures::check(&r, &ctx());
        assert_eq!(
            failed_rules(&v[3]).contains(&"age_top_code".to_owned()),
            !ok,
            "{age}"
        );
    }
    // Under 仮名加工 measure 4 is reported but not required.
    let mut r = Clean::new().released();
    set(&mut r, "persons", "age", 3, "103");
    let mut c = ctx();
    c.mode = Mode::Pseudonymized;
    let v = measures::check(&r, &c);
    assert_eq!(v[3].verdict, Verdict::Pass);
    assert!(failed_rules(&v[3]).contains(&"age_top_code".to_owned()));
}

#[test]
fn a_diagnosis_held_by_one_person_fails_measures_4_and_5() {
    let mut c = Clean::new();
    c.dx.push((7, "C91.0".into(), "2023-01".into()));
    let r = c.released();
    let v = measures::check(&r, &ctx());
    assert_eq!(v[3].verdict, Verdict::Fail);
    assert!(failed_rules(&v[3]).contains(&"rare_code".to_owned()));
    assert_eq!(v[4].verdict, Verdict::Fail);
    assert!(failed_rules(&v[4]).contains(&"km_anonymity".to_owned()));
    assert_no_value(&v, "C91");
    // The same code held by 5 persons passes measure 4 but, paired with a code held by others,
    // breaks k^m for m = 2 (C91.0 with I10 in only 3 persons).
    let mut c = Clean::new();
    for p in [0, 1, 2, 30, 31] {
        c.dx.push((p, "C91.0".into(), "2023-01".into()));
    }
    let v = measures::check(&c.released(), &ctx());
    assert!(!failed_rules(&v[3]).contains(&"rare_code".to_owned()));
    assert_eq!(v[4].verdict, Verdict::Fail);
}

#[test]
fn leaked_ids_fail_measure_3() {
    // An internal person id in place of a pseudonym.
    let mut r = Clean::new().released();
    set(&mut r, "persons", "person_id", 0, "per-0000000001");
    let v = measures::check(&r, &ctx());
    assert_eq!(v[2].verdict, Verdict::Fail);
    let rules = failed_rules(&v[2]);
    assert!(rules.contains(&"pseudonym_format".to_owned()));
    assert!(rules.contains(&"extract_id".to_owned()));
    assert_no_value(&v, "per-0000000001");

    // A vault person id embedded in any text column (not in the extract's id set).
    let mut r = Clean::new().released();
    let mut notes = vec!["-".to_owned(); 80];
    notes[11] = "転院元 psn-7f3a9c 参照".into();
    add_column(
        &mut r,
        "conditions",
        text_col("note", ColumnRole::Attribute, notes),
    );
    let v = measures::check(&r, &ctx());
    assert_eq!(v[2].verdict, Verdict::Fail);
    assert!(failed_rules(&v[2]).contains(&"internal_id".to_owned()));

    // An extract record id copied into a code column.
    let mut r = Clean::new().released();
    set(&mut r, "conditions", "icd10", 5, &format!("rec-{:024x}", 5));
    let v = measures::check(&r, &ctx());
    assert_eq!(v[2].verdict, Verdict::Fail);
    assert!(failed_rules(&v[2]).contains(&"extract_id".to_owned()));

    // A local patient id (in the extract id set) inside free text.
    let mut r = Clean::new().released();
    let mut c = ctx();
    c.extract_ids.insert("KARTE00421".into());
    let mut notes = vec!["-".to_owned(); 80];
    notes[2] = "ID:KARTE00421".into();
    add_column(
        &mut r,
        "conditions",
        text_col("note", ColumnRole::Attribute, notes),
    );
    let v = measures::check(&r, &c);
    assert_eq!(v[2].verdict, Verdict::Fail);
    assert!(failed_rules(&v[2]).contains(&"extract_id".to_owned()));

    // An id column the release has no pseudonym rule for (provider ids kept as they are).
    let mut r = Clean::new().released();
    add_column(
        &mut r,
        "persons",
        text_col(
            "provider_id",
            ColumnRole::Attribute,
            vec!["prv-0000000001".to_owned(); 40],
        ),
    );
    let v = measures::check(&r, &ctx());
    assert_eq!(v[2].verdict, Verdict::Fail);
    let rules = failed_rules(&v[2]);
    assert!(rules.contains(&"id_without_pseudonym".to_owned()));
    assert!(rules.contains(&"internal_id".to_owned()));
}

#[test]
fn municipality_when_only_prefecture_is_allowed_fails_measure_1() {
    let mut r = Clean::new().released();
    set(&mut r, "persons", "area", 0, "東京都府中市");
    let v = measures::check(&r, &ctx());
    assert_eq!(v[0].verdict, Verdict::Fail);
    assert!(failed_rules(&v[0]).contains(&"area_too_fine".to_owned()));
    // Allowed when the policy allows municipalities (then only k and tiny places may object).
    let mut c = ctx();
    c.area_finest = AreaLevel::Municipality;
    let v = measures::check(&r, &c);
    assert_eq!(v[0].verdict, Verdict::Pass);
    // Finer than a municipality is never recognized as an area label.
    let mut r = Clean::new().released();
    set(&mut r, "persons", "area", 0, "東京都府中市宮町1-2-3");
    let v = measures::check(&r, &c);
    assert_eq!(v[0].verdict, Verdict::Fail);
    assert!(failed_rules(&v[0]).contains(&"area_unrecognized".to_owned()));
}

#[test]
fn identifying_columns_and_contacts_fail_measure_1() {
    let mut r = Clean::new().released();
    add_column(
        &mut r,
        "persons",
        col("family_name", ColumnRole::Attribute, vec!["x"; 40]),
    );
    let v = measures::check(&r, &ctx());
    assert_eq!(v[0].verdict, Verdict::Fail);
    assert!(failed_rules(&v[0]).contains(&"identifying_column".to_owned()));
    for planted in ["連絡先 03-1234-5678", "mail: taro.yamada@example.jp"] {
        let mut r = Clean::new().released();
        let mut notes = vec!["-".to_owned(); 80];
        notes[9] = planted.to_owned();
        add_column(
            &mut r,
            "conditions",
            text_col("note", ColumnRole::Attribute, notes),
        );
        let v = measures::check(&r, &ctx());
        assert_eq!(v[0].verdict, Verdict::Fail, "{planted}");
        assert_eq!(v[1].verdict, Verdict::Pass, "{planted}");
    }
}

#[test]
fn lab_outside_bounds_and_tiny_places_fail_measure_4() {
    let mut r = Clean::new().released();
    r.tables.push(OutTable {
        name: "observations".into(),
        columns: vec![
            text_col(
                "person_id",
                ColumnRole::Pseudonym,
                (0..10).map(pid).collect(),
            ),
            col("code", ColumnRole::Code, vec!["3D046"; 10]),
            OutColumn {
                name: "value".into(),
                role: ColumnRole::Measure,
                description_ja: String::new(),
                description_en: String::new(),
                values: Values::Float(
                    [5.5, 6.0, 7.1, 14.0, 6.2, 5.9, 6.1, 6.6, 4.0, 6.3]
                        .into_iter()
                        .map(Some)
                        .collect(),
                ),
            },
        ],
    });
    let mut c = ctx();
    c.lab_bounds.push(measures::LabBound {
        table: "observations".into(),
        code: "3D046".into(),
        low: Some(4.5),
        high: Some(12.0),
    });
    let v = measures::check(&r, &c);
    assert_eq!(v[3].verdict, Verdict::Fail);
    let f = v[3]
        .findings
        .iter()
        .find(|f| f.rule == "lab_outlier")
        .unwrap_or_else(|| panic!("no lab finding"));
    assert_eq!(f.count, 2);

    let mut r = Clean::new().released();
    set(&mut r, "persons", "area", 0, "北海道");
    let v = measures::check(&r, &ctx());
    assert!(failed_rules(&v[3]).contains(&"tiny_area".to_owned()));
    assert_eq!(v[3].verdict, Verdict::Fail);
}

#[test]
fn small_classes_and_suppression_are_verified_on_the_output() {
    // A class of 1 fails k = 5.
    let mut r = Clean::new().released();
    set(&mut r, "persons", "sex", 0, "F");
    set(&mut r, "persons", "age", 0, "90+");
    set(&mut r, "persons", "area", 0, "大阪府");
    let v = measures::check(&r, &ctx());
    assert_eq!(v[4].verdict, Verdict::Fail);
    assert!(failed_rules(&v[4]).contains(&"k_anonymity".to_owned()));
    // Rows with every quasi-identifier `*` are suppressed and form no class: 1 of 41 (2.4 %) is
    // within the 5 % limit.
    let mut c = Clean::new();
    c.sex.push("*".into());
    c.age.push("*".into());
    c.area.push("*".into());
    c.dx.push((40, "E11".into(), "2021-03".into()));
    let r = c.released();
    let v = measures::check(&r, &ctx());
    assert_eq!(v[4].verdict, Verdict::Pass, "{:?}", v[4].findings);
    let k = measures::k_anonymity(&r, &ctx()).unwrap_or_else(|| panic!("k"));
    assert_eq!(k.suppressed_records, 1);
    assert_eq!(k.min_class_size, 5);
    assert!(k.holds);
    // Suppressing a member of a class of 5 leaves a class of 4, which fails: suppression does
    // not hide the class it came from.
    let mut r = Clean::new().released();
    for c in ["sex", "age", "area"] {
        set(&mut r, "persons", c, 0, "*");
    }
    let k = measures::k_anonymity(&r, &ctx()).unwrap_or_else(|| panic!("k"));
    assert_eq!(
        (k.suppressed_records, k.min_class_size, k.holds),
        (1, 4, false)
    );
    // 3 of 40 (7.5 %) exceeds the limit.
    let mut r = Clean::new().released();
    for row in [0, 1, 2] {
        for c in ["sex", "age", "area"] {
            set(&mut r, "persons", c, row, "*");
        }
    }
    let v = measures::check(&r, &ctx());
    assert!(failed_rules(&v[4]).contains(&"suppression_limit".to_owned()));
}

// ---------------------------------------------------------------------------------------------
// The attack.

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default()
}

const TOKYO: [&str; 5] = ["千代田区", "新宿区", "府中市", "八王子市", "渋谷区"];

/// 40 persons: sex, birth year, Tokyo municipality, 2 diagnoses with months. Exact, everyone
/// is unique (same-sex persons are 2 years apart or differ in a diagnosis); generalized to
/// (sex, 20-year band, prefecture) and ICD-10 blocks, classes have 20 persons.
fn population() -> Vec<Known> {
    (0..40)
        .map(|i| Known {
            pseudonym: pid(i),
            sex: Some(if i % 2 == 0 { "M" } else { "F" }.into()),
            // Persons i and i + 20 share a birth year and sex but not their second diagnosis.
            birth_year: Some(1945 + (i % 20) as i32),
            prefecture: Some("東京都".into()),
            municipality: Some(TOKYO[i % 5].into()),
            diagnoses: vec![
                KnownDiagnosis {
                    code: "E11.9".into(),
                    month: Some((2021, 3)),
                },
                KnownDiagnosis {
                    code: if i < 20 { "I10" } else { "J45.0" }.into(),
                    month: Some((2022, 7)),
                },
            ],
        })
        .collect()
}

/// The release of [`population`]: exact (every person unique) or generalized.
fn release_of(pop: &[Known], generalized: bool) -> Released {
    let age = |k: &Known| {
        let a = 2024 - k.birth_year.unwrap_or(0);
        if generalized {
            let lo = a / 20 * 20;
            format!("{lo}-{}", lo + 19)
        } else {
            a.to_string()
        }
    };
    let area = |k: &Known| {
        let p = k.prefecture.clone().unwrap_or_default();
        if generalized {
            p
        } else {
            format!("{p}{}", k.municipality.clone().unwrap_or_default())
        }
    };
    let mut dx_p = Vec::new();
    let mut dx_code = Vec::new();
    let mut dx_month = Vec::new();
    for k in pop {
        for d in &k.diagnoses {
            dx_p.push(k.pseudonym.clone());
            let code = if generalized {
                tsunagu_model::icd10::tree()
                    .block_of(&d.code)
                    .map_or_else(|| d.code.clone(), |n| n.code.clone())
            } else {
                d.code.clone()
            };
            dx_code.push(code);
            let (y, m) = d.month.unwrap_or((0, 0));
            dx_month.push(if generalized {
                format!("{y}")
            } else {
                format!("{y}-{m:02}")
            });
        }
    }
    Released {
        tables: vec![
            OutTable {
                name: "persons".into(),
                columns: vec![
                    text_col(
                        "person_id",
                        ColumnRole::Pseudonym,
                        pop.iter().map(|k| k.pseudonym.clone()).collect(),
                    ),
                    text_col(
                        "sex",
                        ColumnRole::QuasiIdentifier,
                        pop.iter()
                            .map(|k| k.sex.clone().unwrap_or_default())
                            .collect(),
                    ),
                    text_col(
                        "age",
                        ColumnRole::QuasiIdentifier,
                        pop.iter().map(age).collect(),
                    ),
                    text_col(
                        "area",
                        ColumnRole::QuasiIdentifier,
                        pop.iter().map(area).collect(),
                    ),
                ],
            },
            OutTable {
                name: "conditions".into(),
                columns: vec![
                    text_col("person_id", ColumnRole::Pseudonym, dx_p),
                    text_col("icd10", ColumnRole::Code, dx_code),
                    text_col("onset", ColumnRole::Date, dx_month),
                ],
            },
        ],
    }
}

fn params(seed: u64, sample: usize) -> AttackParams {
    AttackParams {
        seed,
        sample,
        diagnoses: 2,
        limit: 0.05,
        ..AttackParams::default()
    }
}

#[test]
fn everyone_unique_is_reidentified_and_fails() {
    let pop = population();
    let r = release_of(&pop, false);
    let a = attack::run(
        &AttackInput {
            released: &r,
            population: pop.clone(),
            as_of: as_of(),
        },
        &params(1, 1000),
    );
    assert_eq!(a.sample, 40);
    assert_eq!(a.unique_matches, 40);
    assert_eq!(a.correct_unique_matches, 40);
    assert!((a.reidentified_share - 1.0).abs() < 1e-12);
    assert!(!a.passed);
}

#[test]
fn k_anonymous_generalized_release_gives_a_low_share() {
    let pop = population();
    let r = release_of(&pop, true);
    // The release really is 5-anonymous on its QIs.
    let mut c = CheckContext::anonymized_defaults();
    c.k = Some(measures::KSpec {
        k: 5,
        quasi_identifiers: vec!["sex".into(), "age".into(), "area".into()],
        max_suppressed_share: 0.0,
    });
    assert!(measures::k_anonymity(&r, &c).is_some_and(|k| k.holds));
    let a = attack::run(
        &AttackInput {
            released: &r,
            population: pop.clone(),
            as_of: as_of(),
        },
        &params(1, 1000),
    );
    assert_eq!(a.sample, 40);
    assert_eq!(a.correct_unique_matches, 0);
    assert!(a.reidentified_share < 0.05);
    assert!(a.passed);

    // One person with a rare diagnosis kept as its block is singled out by it.
    let mut pop2 = pop.clone();
    pop2[6].diagnoses[1] = KnownDiagnosis {
        code: "C91.0".into(),
        month: Some((2023, 1)),
    };
    let r2 = release_of(&pop2, true);
    let a = attack::run(
        &AttackInput {
            released: &r2,
            population: pop2,
            as_of: as_of(),
        },
        &params(1, 1000),
    );
    assert_eq!(a.correct_unique_matches, 1);
}

#[test]
fn same_seed_same_figures() {
    // Half the persons unique (exact release), sampling 10 of 40: the figures depend on the
    // sample, so they vary with the seed and repeat with it.
    let pop = population();
    let mut r = release_of(&pop, true);
    let exact = release_of(&pop, false);
    for t in 0..r.tables.len() {
        for c in 0..r.tables[t].columns.len() {
            if let (Values::Text(g), Values::Text(e)) = (
                &mut r.tables[t].columns[c].values,
                &exact.tables[t].columns[c].values,
            ) {
                for i in (0..g.len()).filter(|i| i % 2 == 0) {
                    g[i] = e[i].clone();
                }
            }
        }
    }
    let run = |seed| {
        attack::run(
            &AttackInput {
                released: &r,
                population: pop.clone(),
                as_of: as_of(),
            },
            &params(seed, 10),
        )
    };
    let a = run(42);
    assert_eq!(a, run(42));
    assert_eq!(a.sample, 10);
    let figures: HashSet<u64> = (0..20).map(|s| run(s).correct_unique_matches).collect();
    assert!(figures.len() > 1, "the seed does not drive the sample");
}

#[test]
fn km_within_classes_is_stricter_than_global() {
    // Everyone has E11 and I10: within each class of 5 every code set is held by all 5.
    let mut c = Clean::new();
    for d in &mut c.dx {
        if d.1 == "J45" {
            d.1 = "I10".into();
        }
    }
    let mut cx = ctx();
    cx.km = Some(measures::KmSpec {
        k: 5,
        m: 1,
        table: "conditions".into(),
        column: "icd10".into(),
        within_classes: false,
    });
    let w =
        measures::km_anonymity_within_classes(&c.released(), &cx).unwrap_or_else(|| panic!("km"));
    assert!(w.holds, "{w:?}");
    // K21 for 5 persons overall, but 3 of class (M, 40-49, 東京都) = {0, 8, 16, 24, 32} and 2 of
    // class (M, 40-49, 大阪府) = {4, 12, 20, 28, 36}: global k^m holds, within classes it does not.
    for p in [0, 8, 16, 4, 12] {
        c.dx.push((p, "K21".into(), "2023-02".into()));
    }
    let r = c.released();
    let g = measures::km_anonymity(&r, &cx).unwrap_or_else(|| panic!("km"));
    assert!(g.holds, "{g:?}");
    let w = measures::km_anonymity_within_classes(&r, &cx).unwrap_or_else(|| panic!("km"));
    assert!(!w.holds);
    assert_eq!(w.violations, 2);
    assert_eq!(w.smallest_support, Some(2));
}
