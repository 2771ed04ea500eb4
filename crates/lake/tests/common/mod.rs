//! Sample rows and proptest strategies shared by the lake's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, NaiveDateTime};
use proptest::option;
use proptest::prelude::*;
use tsunagu_lake::*;
use tsunagu_model::{Icd10Code, ProviderId, Sex};

pub fn pid(n: u32) -> PersonId {
    PersonId::parse(&format!("psn-{n:08X}")).unwrap()
}

pub fn prv() -> ProviderId {
    ProviderId::parse("prv-0123456789").unwrap()
}

pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

pub fn dt(y: i32, m: u32, day: u32, h: u32, mi: u32) -> NaiveDateTime {
    d(y, m, day).and_hms_opt(h, mi, 0).unwrap()
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

pub fn persons() -> Vec<Person> {
    vec![
        Person {
            person_id: pid(1),
            provider_id: prv(),
            sex: Sex::Female,
            birth_month: YearMonth::new(1961, 7),
            deceased_date: None,
            postal3: Some(Postal3::parse("100").unwrap()),
            municipality: s("千代田区"),
        },
        Person {
            person_id: pid(2),
            provider_id: prv(),
            sex: Sex::Unknown,
            birth_month: None,
            deceased_date: Some(d(2024, 2, 29)),
            postal3: None,
            municipality: None,
        },
    ]
}

pub fn encounters() -> Vec<Encounter> {
    vec![
        Encounter {
            person_id: pid(1),
            provider_id: prv(),
            encounter_id: "enc-1".into(),
            class: Some(EncounterClass::Inpatient),
            start: Some(dt(2024, 4, 1, 9, 30)),
            end: Some(dt(2024, 4, 12, 11, 0)),
            department_code: s("01"),
            department: s("内科"),
        },
        Encounter {
            person_id: pid(2),
            provider_id: prv(),
            encounter_id: "enc-2".into(),
            class: None,
            start: None,
            end: None,
            department_code: None,
            department: None,
        },
    ]
}

pub fn conditions() -> Vec<Condition> {
    vec![
        Condition {
            person_id: pid(1),
            provider_id: prv(),
            record_id: "rec-c1".into(),
            encounter_id: s("enc-1"),
            icd10: Some(Icd10Code::parse("E11.9").unwrap()),
            code_system: s("medis-disease"),
            code: s("8842340"),
            name: s("2型糖尿病"),
            suspected: false,
            primary: true,
            onset: Some(d(2019, 5, 1)),
            recorded: Some(d(2024, 4, 1)),
            abated: None,
            status: s("active"),
        },
        Condition {
            person_id: pid(2),
            provider_id: prv(),
            record_id: "rec-c2".into(),
            encounter_id: None,
            icd10: None,
            code_system: None,
            code: None,
            name: None,
            suspected: true,
            primary: false,
            onset: None,
            recorded: None,
            abated: None,
            status: None,
        },
    ]
}

pub fn medications() -> Vec<Medication> {
    vec![Medication {
        person_id: pid(1),
        provider_id: prv(),
        record_id: "rec-m1".into(),
        encounter_id: s("enc-1"),
        kind: MedicationKind::Prescription,
        code_system: s("yj"),
        code: s("3962002F1024"),
        name: s("メトホルミン塩酸塩錠250mg"),
        dose: Some(3.0),
        unit: s("錠"),
        usage: s("1日3回毎食後"),
        days: Some(28),
        start: Some(d(2024, 4, 12)),
        end: None,
        status: s("active"),
    }]
}

pub fn observations() -> Vec<Observation> {
    vec![
        Observation {
            person_id: pid(1),
            provider_id: prv(),
            record_id: "rec-o1".into(),
            encounter_id: s("enc-1"),
            category: ObservationCategory::Laboratory,
            code_system: s("jlac10"),
            code: s("3D046000001920402"),
            name: s("HbA1c(NGSP)"),
            value: Some(7.4),
            value_text: s("7.40"),
            unit: s("%"),
            reference_range: s("4.6-6.2"),
            interpretation: s("H"),
            effective: Some(dt(2024, 4, 2, 7, 0)),
            status: s("final"),
        },
        Observation {
            person_id: pid(1),
            provider_id: prv(),
            record_id: "rec-o2".into(),
            encounter_id: None,
            category: ObservationCategory::VitalSigns,
            code_system: s("loinc"),
            code: s("8480-6"),
            name: s("収縮期血圧"),
            value: None,
            value_text: s("測定不能"),
            unit: None,
            reference_range: None,
            interpretation: None,
            effective: None,
            status: None,
        },
    ]
}

pub fn procedures() -> Vec<Procedure> {
    vec![Procedure {
        person_id: pid(1),
        provider_id: prv(),
        record_id: "rec-p1".into(),
        encounter_id: s("enc-1"),
        code_system: s("receipt"),
        code: s("160000310"),
        name: s("血液採取"),
        performed: Some(dt(2024, 4, 2, 7, 0)),
        status: s("completed"),
    }]
}

pub fn checkups() -> Vec<Checkup> {
    vec![Checkup {
        person_id: pid(3),
        provider_id: prv(),
        record_id: "rec-k1".into(),
        program: CheckupProgram::Infant18m,
        date: Some(d(2023, 1, 20)),
        code_system: s("local"),
        code: s("height"),
        name: s("身長"),
        value: Some(80.2),
        value_text: s("80.2"),
        unit: s("cm"),
    }]
}

pub fn claims() -> Vec<Claim> {
    vec![Claim {
        person_id: pid(1),
        provider_id: prv(),
        record_id: "rec-l1".into(),
        claim_id: "clm-1".into(),
        service_month: YearMonth::new(2024, 4).unwrap(),
        facility_code: s("1312345678"),
        line: 3,
        kind: "IY".into(),
        code_system: s("receipt"),
        code: s("620008565"),
        name: s("メトホルミン塩酸塩錠250mg"),
        quantity: Some(84.0),
        points: Some(142.0),
        care_level: None,
    }]
}

// ---- proptest strategies ----

pub fn any_pid() -> impl Strategy<Value = PersonId> {
    "[0-9A-Za-z]{1,64}".prop_map(|s| PersonId::parse(&format!("psn-{s}")).unwrap())
}

pub fn any_prv() -> impl Strategy<Value = ProviderId> {
    any::<u64>().prop_map(ProviderId::from_random)
}

pub fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including the empty string and NULs: Utf8 must carry them all.
    any::<String>()
}

pub fn otext() -> impl Strategy<Value = Option<String>> {
    option::of(any::<String>())
}

pub fn date() -> impl Strategy<Value = NaiveDate> {
    (-200_000i32..200_000).prop_map(|n| NaiveDate::from_num_days_from_ce_opt(719_163 + n).unwrap())
}

pub fn odate() -> impl Strategy<Value = Option<NaiveDate>> {
    option::of(date())
}

pub fn odatetime() -> impl Strategy<Value = Option<NaiveDateTime>> {
    option::of(
        (-5_000_000_000_000_000i64..5_000_000_000_000_000).prop_map(|us| {
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap()
                .naive_utc()
        }),
    )
}

pub fn num() -> impl Strategy<Value = Option<f64>> {
    // Values from the parsers are finite decimals; NaN would not equal itself.
    option::of(prop_oneof![
        -1e15f64..1e15,
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE)
    ])
}

pub fn month() -> impl Strategy<Value = YearMonth> {
    (-9999i32..9999, 1u32..=12).prop_map(|(y, m)| YearMonth::new(y, m).unwrap())
}

pub fn sex() -> impl Strategy<Value = Sex> {
    prop_oneof![
        Just(Sex::Male),
        Just(Sex::Female),
        Just(Sex::Other),
        Just(Sex::Unknown)
    ]
}

pub fn icd() -> impl Strategy<Value = Option<Icd10Code>> {
    option::of("[A-Z][0-9]{2}(\\.[0-9]{1,2})?".prop_map(|s| Icd10Code::parse(&s).unwrap()))
}

pub fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(all)
}

prop_compose! {
    pub fn person()(person_id in any_pid(), provider_id in any_prv(), sex in sex(),
        birth_month in option::of(month()), deceased_date in odate(),
        postal3 in option::of("[0-9]{3}".prop_map(|s| Postal3::parse(&s).unwrap())),
        municipality in otext()) -> Person {
        Person { person_id, provider_id, sex, birth_month, deceased_date, postal3, municipality }
    }
}

prop_compose! {
    pub fn encounter()(person_id in any_pid(), provider_id in any_prv(), encounter_id in text(),
        class in option::of(pick(EncounterClass::ALL)), start in odatetime(), end in odatetime(),
        department_code in otext(), department in otext()) -> Encounter {
        Encounter { person_id, provider_id, encounter_id, class, start, end, department_code, department }
    }
}

prop_compose! {
    pub fn condition()((person_id, provider_id, record_id, encounter_id) in (any_pid(), any_prv(), text(), otext()),
        (icd10, code_system, code, name) in (icd(), otext(), otext(), otext()),
        (suspected, primary, onset, recorded, abated, status) in (any::<bool>(), any::<bool>(), odate(), odate(), odate(), otext())) -> Condition {
        Condition { person_id, provider_id, record_id, encounter_id, icd10, code_system, code, name,
            suspected, primary, onset, recorded, abated, status }
    }
}

prop_compose! {
    pub fn medication()((person_id, provider_id, record_id, encounter_id, kind) in (any_pid(), any_prv(), text(), otext(), pick(MedicationKind::ALL)),
        (code_system, code, name, dose, unit, usage) in (otext(), otext(), otext(), num(), otext(), otext()),
        (days, start, end, status) in (option::of(any::<u32>()), odate(), odate(), otext())) -> Medication {
        Medication { person_id, provider_id, record_id, encounter_id, kind, code_system, code, name,
            dose, unit, usage, days, start, end, status }
    }
}

prop_compose! {
    pub fn observation()((person_id, provider_id, record_id, encounter_id, category) in (any_pid(), any_prv(), text(), otext(), pick(ObservationCategory::ALL)),
        (code_system, code, name, value, value_text) in (otext(), otext(), otext(), num(), otext()),
        (unit, reference_range, interpretation, effective, status) in (otext(), otext(), otext(), odatetime(), otext())) -> Observation {
        Observation { person_id, provider_id, record_id, encounter_id, category, code_system, code, name,
            value, value_text, unit, reference_range, interpretation, effective, status }
    }
}

prop_compose! {
    pub fn procedure()((person_id, provider_id, record_id, encounter_id) in (any_pid(), any_prv(), text(), otext()),
        (code_system, code, name, performed, status) in (otext(), otext(), otext(), odatetime(), otext())) -> Procedure {
        Procedure { person_id, provider_id, record_id, encounter_id, code_system, code, name, performed, status }
    }
}

prop_compose! {
    pub fn checkup()((person_id, provider_id, record_id, program, date) in (any_pid(), any_prv(), text(), pick(CheckupProgram::ALL), odate()),
        (code_system, code, name, value, value_text, unit) in (otext(), otext(), otext(), num(), otext(), otext())) -> Checkup {
        Checkup { person_id, provider_id, record_id, program, date, code_system, code, name, value, value_text, unit }
    }
}

prop_compose! {
    pub fn claim()((person_id, provider_id, record_id, claim_id, service_month) in (any_pid(), any_prv(), text(), text(), month()),
        (facility_code, line, kind, code_system, code) in (otext(), any::<u32>(), text(), otext(), otext()),
        (name, quantity, points, care_level) in (otext(), num(), num(), otext())) -> Claim {
        Claim { person_id, provider_id, record_id, claim_id, service_month, facility_code, line, kind,
            code_system, code, name, quantity, points, care_level }
    }
}
