//! The clinical catalogue: conditions with prevalence by age and sex, acute episodes with
//! incidence, drugs (YJ-style codes), laboratory tests (JLAC10-style codes), vital signs and
//! check-up items.
//!
//! Prevalence figures are rounded from Japanese national sources (国民健康・栄養調査 2019 for
//! treated hypertension, diabetes and dyslipidaemia; 患者調査 2020 and the 認知症施策推進 figures
//! for dementia; がん統計 for cancers; 指定難病 recipient counts for rare diseases). They are
//! plausible magnitudes for a generator, not epidemiology.
//!
//! Codes: ICD-10 codes are real WHO codes (tests check them against the embedded tree). Drug
//! codes follow the 12-character YJ layout (7-digit 薬価基準収載医薬品コード stem, dosage-form
//! letter, 4 characters) but are not looked up in the YJ master; lab codes follow the
//! 17-character JLAC10 layout (analyte 5, identification 4, material 3, method 3, result 2) with
//! real analyte codes.

/// (age in years, value) points; linear in between, flat outside.
pub type Curve = &'static [(f64, f64)];

/// Linear interpolation on a curve.
pub fn interp(curve: Curve, x: f64) -> f64 {
    let Some(first) = curve.first() else {
        return 0.0;
    };
    if x <= first.0 {
        return first.1;
    }
    for w in curve.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    curve.last().map_or(0.0, |l| l.1)
}

/// How a condition is cared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Care {
    /// Regular visits to a clinic with prescriptions.
    Clinic,
    /// Inpatient treatment at a hospital, then follow-up there every three months.
    Hospital,
    /// Specialist follow-up at a hospital every three months.
    Specialist,
}

/// A condition with age- and sex-specific prevalence.
pub struct Condition {
    /// ICD-10 code.
    pub icd10: &'static str,
    /// Japanese disease name (標準病名 style).
    pub name: &'static str,
    /// Prevalence among men by age.
    pub male: Curve,
    /// Prevalence among women by age.
    pub female: Curve,
    /// Drugs (indexes into [`DRUGS`]).
    pub drugs: &'static [usize],
    /// Labs checked at visits (indexes into [`LABS`]).
    pub labs: &'static [usize],
    /// Care setting.
    pub care: Care,
}

/// Lab indexes.
pub mod lab {
    /// HbA1c (NGSP).
    pub const HBA1C: usize = 0;
    /// Fasting glucose.
    pub const GLU: usize = 1;
    /// LDL cholesterol.
    pub const LDL: usize = 2;
    /// HDL cholesterol.
    pub const HDL: usize = 3;
    /// Triglycerides.
    pub const TG: usize = 4;
    /// AST.
    pub const AST: usize = 5;
    /// ALT.
    pub const ALT: usize = 6;
    /// γ-GT.
    pub const GGT: usize = 7;
    /// Creatinine.
    pub const CRE: usize = 8;
    /// eGFR.
    pub const EGFR: usize = 9;
    /// Haemoglobin.
    pub const HB: usize = 10;
    /// White cells.
    pub const WBC: usize = 11;
    /// CRP.
    pub const CRP: usize = 12;
    /// Uric acid.
    pub const UA: usize = 13;
    /// Platelets.
    pub const PLT: usize = 14;
}

/// A laboratory test.
pub struct Lab {
    /// JLAC10-style 17-character code.
    pub jlac10: &'static str,
    /// LOINC code (for FHIR).
    pub loinc: &'static str,
    /// Japanese name.
    pub name: &'static str,
    /// Unit (UCUM where it exists).
    pub unit: &'static str,
    /// Reference range low.
    pub low: f64,
    /// Reference range high.
    pub high: f64,
    /// Decimal places reported.
    pub decimals: usize,
}

macro_rules! lab {
    ($j:expr, $l:expr, $n:expr, $u:expr, $lo:expr, $hi:expr, $d:expr) => {
        Lab {
            jlac10: $j,
            loinc: $l,
            name: $n,
            unit: $u,
            low: $lo,
            high: $hi,
            decimals: $d,
        }
    };
}

/// Laboratory tests (reference ranges: JCCLS 共用基準範囲).
pub static LABS: [Lab; 15] = [
    lab!(
        "3D046000001906202",
        "4548-4",
        "HbA1c(NGSP)",
        "%",
        4.9,
        6.0,
        1
    ),
    lab!(
        "3D010000002227101",
        "1558-6",
        "空腹時血糖",
        "mg/dL",
        73.0,
        109.0,
        0
    ),
    lab!(
        "3F077000002327101",
        "13457-7",
        "LDLコレステロール",
        "mg/dL",
        65.0,
        163.0,
        0
    ),
    lab!(
        "3F070000002327101",
        "2085-9",
        "HDLコレステロール",
        "mg/dL",
        40.0,
        90.0,
        0
    ),
    lab!(
        "3F015000002327101",
        "2571-8",
        "中性脂肪",
        "mg/dL",
        40.0,
        149.0,
        0
    ),
    lab!("3B035000002327201", "1920-8", "AST", "U/L", 13.0, 30.0, 0),
    lab!("3B045000002327201", "1742-6", "ALT", "U/L", 7.0, 42.0, 0),
    lab!("3B090000002327201", "2324-2", "γ-GT", "U/L", 9.0, 64.0, 0),
    lab!(
        "3C015000002327101",
        "2160-0",
        "クレアチニン",
        "mg/dL",
        0.46,
        1.07,
        2
    ),
    lab!(
        "8A065000002391901",
        "33914-3",
        "eGFR",
        "mL/min/1.73m2",
        60.0,
        120.0,
        1
    ),
    lab!(
        "2A030000001930101",
        "718-7",
        "ヘモグロビン",
        "g/dL",
        11.6,
        16.8,
        1
    ),
    lab!(
        "2A990000001930101",
        "6690-2",
        "白血球数",
        "10*3/uL",
        3.3,
        8.6,
        1
    ),
    lab!("5C070000002306001", "1988-5", "CRP", "mg/dL", 0.0, 0.14, 2),
    lab!("3C020000002327101", "3084-1", "尿酸", "mg/dL", 2.6, 7.0, 1),
    lab!(
        "2A050000001930101",
        "777-3",
        "血小板数",
        "10*4/uL",
        15.8,
        34.8,
        1
    ),
];

/// A drug.
pub struct Drug {
    /// YJ-style code.
    pub yj: &'static str,
    /// Name.
    pub name: &'static str,
    /// Amount per day.
    pub per_day: f64,
    /// Unit of the amount.
    pub unit: &'static str,
    /// Usage (用法).
    pub usage: &'static str,
}

macro_rules! drug {
    ($y:expr, $n:expr, $q:expr, $u:expr, $us:expr) => {
        Drug {
            yj: $y,
            name: $n,
            per_day: $q,
            unit: $u,
            usage: $us,
        }
    };
}

const MORNING: &str = "1日1回朝食後";
const TWICE: &str = "1日2回朝夕食後";
const THRICE: &str = "1日3回毎食後";

/// Drugs.
pub static DRUGS: [Drug; 24] = [
    drug!("2171022F1022", "アムロジピン錠5mg", 1.0, "錠", MORNING),
    drug!("2149044F2026", "オルメサルタン錠20mg", 1.0, "錠", MORNING),
    drug!(
        "3962002F1038",
        "メトホルミン塩酸塩錠250mg",
        4.0,
        "錠",
        TWICE
    ),
    drug!("3969010F1020", "シタグリプチン錠50mg", 1.0, "錠", MORNING),
    drug!("2189017F1028", "ロスバスタチン錠2.5mg", 1.0, "錠", MORNING),
    drug!("2189015F2021", "アトルバスタチン錠10mg", 1.0, "錠", MORNING),
    drug!("3929003C1031", "球形吸着炭細粒", 6.0, "g", THRICE),
    drug!("1190012F2026", "ドネペジル塩酸塩錠5mg", 1.0, "錠", MORNING),
    drug!(
        "2290701G1024",
        "ブデソニド・ホルモテロール吸入剤",
        2.0,
        "吸入",
        TWICE
    ),
    drug!(
        "3999018F2023",
        "アレンドロン酸錠35mg",
        0.143,
        "錠",
        "週1回起床時"
    ),
    drug!(
        "1179046F1021",
        "セルトラリン錠25mg",
        1.0,
        "錠",
        "1日1回夕食後"
    ),
    drug!(
        "2431004F2022",
        "レボチロキシンナトリウム錠50μg",
        1.0,
        "錠",
        MORNING
    ),
    drug!(
        "3949003F2020",
        "フェブキソスタット錠20mg",
        1.0,
        "錠",
        MORNING
    ),
    drug!(
        "1169101F1025",
        "レボドパ・カルビドパ配合錠",
        3.0,
        "錠",
        THRICE
    ),
    drug!(
        "1141007F1063",
        "アセトアミノフェン錠200mg",
        6.0,
        "錠",
        THRICE
    ),
    drug!(
        "6250021M1027",
        "オセルタミビルカプセル75mg",
        2.0,
        "カプセル",
        TWICE
    ),
    drug!(
        "6241013F4024",
        "レボフロキサシン錠500mg",
        1.0,
        "錠",
        MORNING
    ),
    drug!(
        "1149019F1560",
        "ロキソプロフェンナトリウム錠60mg",
        3.0,
        "錠",
        THRICE
    ),
    drug!("2233002F1030", "カルボシステイン錠500mg", 3.0, "錠", THRICE),
    drug!("2316004B1036", "ビフィズス菌製剤散", 3.0, "g", THRICE),
    drug!(
        "6132016F1020",
        "セフカペンピボキシル錠100mg",
        3.0,
        "錠",
        THRICE
    ),
    drug!(
        "4291010F1029",
        "テガフール・ギメラシル・オテラシル配合カプセル",
        2.0,
        "カプセル",
        TWICE
    ),
    drug!("3999001F1026", "プレドニゾロン錠5mg", 2.0, "錠", MORNING),
    drug!("1190019F1026", "リルゾール錠50mg", 2.0, "錠", TWICE),
];

macro_rules! cond {
    ($c:expr, $n:expr, $m:expr, $f:expr, $d:expr, $l:expr, $care:expr) => {
        Condition {
            icd10: $c,
            name: $n,
            male: $m,
            female: $f,
            drugs: $d,
            labs: $l,
            care: $care,
        }
    };
}

use lab::*;

/// Chronic conditions and rare diseases (prevalence = share of people of that age and sex who
/// have the condition diagnosed).
pub static CONDITIONS: [Condition; 22] = [
    cond!(
        "I10",
        "本態性高血圧症",
        &[
            (20.0, 0.0),
            (30.0, 0.03),
            (40.0, 0.10),
            (50.0, 0.22),
            (60.0, 0.38),
            (70.0, 0.52),
            (80.0, 0.60)
        ],
        &[
            (20.0, 0.0),
            (30.0, 0.01),
            (40.0, 0.05),
            (50.0, 0.14),
            (60.0, 0.28),
            (70.0, 0.45),
            (80.0, 0.58)
        ],
        &[0, 1],
        &[CRE, EGFR],
        Care::Clinic
    ),
    cond!(
        "E11.9",
        "2型糖尿病",
        &[
            (20.0, 0.0),
            (30.0, 0.01),
            (40.0, 0.04),
            (50.0, 0.10),
            (60.0, 0.16),
            (70.0, 0.22)
        ],
        &[
            (20.0, 0.0),
            (30.0, 0.005),
            (40.0, 0.02),
            (50.0, 0.04),
            (60.0, 0.08),
            (70.0, 0.12)
        ],
        &[2, 3],
        &[HBA1C, GLU, CRE, EGFR],
        Care::Clinic
    ),
    cond!(
        "E78.5",
        "脂質異常症",
        &[
            (20.0, 0.0),
            (30.0, 0.02),
            (40.0, 0.07),
            (50.0, 0.14),
            (60.0, 0.22),
            (70.0, 0.28)
        ],
        &[
            (20.0, 0.0),
            (30.0, 0.01),
            (40.0, 0.04),
            (50.0, 0.14),
            (60.0, 0.30),
            (70.0, 0.35)
        ],
        &[4, 5],
        &[LDL, HDL, TG, AST, ALT],
        Care::Clinic
    ),
    cond!(
        "N18.3",
        "慢性腎臓病ステージG3",
        &[
            (40.0, 0.0),
            (50.0, 0.01),
            (60.0, 0.03),
            (70.0, 0.07),
            (80.0, 0.15),
            (90.0, 0.20)
        ],
        &[
            (40.0, 0.0),
            (50.0, 0.008),
            (60.0, 0.024),
            (70.0, 0.055),
            (80.0, 0.12),
            (90.0, 0.16)
        ],
        &[6],
        &[CRE, EGFR, HB, UA],
        Care::Clinic
    ),
    cond!(
        "G30.9",
        "アルツハイマー型認知症",
        &[
            (60.0, 0.0),
            (65.0, 0.006),
            (70.0, 0.018),
            (75.0, 0.04),
            (80.0, 0.09),
            (85.0, 0.16),
            (90.0, 0.27),
            (95.0, 0.36)
        ],
        &[
            (60.0, 0.0),
            (65.0, 0.006),
            (70.0, 0.02),
            (75.0, 0.05),
            (80.0, 0.11),
            (85.0, 0.2),
            (90.0, 0.33),
            (95.0, 0.45)
        ],
        &[7],
        &[],
        Care::Clinic
    ),
    cond!(
        "F01.9",
        "血管性認知症",
        &[(60.0, 0.0), (70.0, 0.005), (80.0, 0.02), (90.0, 0.05)],
        &[(60.0, 0.0), (70.0, 0.004), (80.0, 0.018), (90.0, 0.045)],
        &[],
        &[],
        Care::Clinic
    ),
    cond!(
        "F03",
        "認知症",
        &[(60.0, 0.0), (70.0, 0.005), (80.0, 0.02), (90.0, 0.06)],
        &[(60.0, 0.0), (70.0, 0.005), (80.0, 0.025), (90.0, 0.07)],
        &[],
        &[],
        Care::Clinic
    ),
    cond!(
        "J45.9",
        "気管支喘息",
        &[
            (0.0, 0.0),
            (3.0, 0.06),
            (15.0, 0.04),
            (30.0, 0.03),
            (70.0, 0.04)
        ],
        &[
            (0.0, 0.0),
            (3.0, 0.05),
            (15.0, 0.04),
            (30.0, 0.035),
            (70.0, 0.045)
        ],
        &[8],
        &[],
        Care::Clinic
    ),
    cond!(
        "M81.0",
        "閉経後骨粗鬆症",
        &[(50.0, 0.0), (60.0, 0.01), (70.0, 0.03), (80.0, 0.06)],
        &[(45.0, 0.0), (60.0, 0.10), (70.0, 0.20), (80.0, 0.30)],
        &[9],
        &[],
        Care::Clinic
    ),
    cond!(
        "F32.9",
        "うつ病",
        &[(15.0, 0.0), (20.0, 0.015), (40.0, 0.02), (70.0, 0.015)],
        &[(15.0, 0.0), (20.0, 0.025), (40.0, 0.03), (70.0, 0.02)],
        &[10],
        &[],
        Care::Clinic
    ),
    cond!(
        "E03.9",
        "甲状腺機能低下症",
        &[(20.0, 0.0), (50.0, 0.004), (70.0, 0.008)],
        &[(20.0, 0.0), (40.0, 0.015), (60.0, 0.03), (80.0, 0.035)],
        &[11],
        &[],
        Care::Clinic
    ),
    cond!(
        "E79.0",
        "高尿酸血症",
        &[(20.0, 0.0), (30.0, 0.03), (50.0, 0.07), (70.0, 0.08)],
        &[(20.0, 0.0), (50.0, 0.005), (70.0, 0.012)],
        &[12],
        &[UA, CRE],
        Care::Clinic
    ),
    cond!(
        "G20",
        "パーキンソン病",
        &[(50.0, 0.0), (60.0, 0.001), (70.0, 0.004), (80.0, 0.008)],
        &[(50.0, 0.0), (60.0, 0.001), (70.0, 0.004), (80.0, 0.009)],
        &[13],
        &[],
        Care::Specialist
    ),
    cond!(
        "C16.9",
        "胃癌",
        &[
            (40.0, 0.0),
            (50.0, 0.002),
            (60.0, 0.006),
            (70.0, 0.013),
            (80.0, 0.02)
        ],
        &[
            (40.0, 0.0),
            (50.0, 0.001),
            (60.0, 0.0025),
            (70.0, 0.005),
            (80.0, 0.008)
        ],
        &[21],
        &[HB, AST, ALT, CRE],
        Care::Hospital
    ),
    cond!(
        "C18.9",
        "結腸癌",
        &[
            (40.0, 0.0),
            (50.0, 0.002),
            (60.0, 0.005),
            (70.0, 0.01),
            (80.0, 0.015)
        ],
        &[
            (40.0, 0.0),
            (50.0, 0.0015),
            (60.0, 0.0035),
            (70.0, 0.007),
            (80.0, 0.011)
        ],
        &[21],
        &[HB, AST, ALT, CRE],
        Care::Hospital
    ),
    cond!(
        "C34.9",
        "肺癌",
        &[(40.0, 0.0), (60.0, 0.003), (70.0, 0.008), (80.0, 0.011)],
        &[(40.0, 0.0), (60.0, 0.0015), (70.0, 0.0035), (80.0, 0.005)],
        &[],
        &[HB, CRP, AST, ALT],
        Care::Hospital
    ),
    cond!(
        "C50.9",
        "乳癌",
        &[(0.0, 0.0)],
        &[
            (30.0, 0.0),
            (40.0, 0.004),
            (50.0, 0.009),
            (60.0, 0.011),
            (70.0, 0.011)
        ],
        &[],
        &[HB, AST, ALT],
        Care::Hospital
    ),
    cond!(
        "C61",
        "前立腺癌",
        &[(50.0, 0.0), (60.0, 0.005), (70.0, 0.015), (80.0, 0.025)],
        &[(0.0, 0.0)],
        &[],
        &[HB, CRE],
        Care::Hospital
    ),
    cond!(
        "G12.2",
        "筋萎縮性側索硬化症",
        &[(40.0, 0.0), (60.0, 0.00012), (70.0, 0.0002)],
        &[(40.0, 0.0), (60.0, 0.00008), (70.0, 0.00014)],
        &[23],
        &[],
        Care::Specialist
    ),
    cond!(
        "M32.9",
        "全身性エリテマトーデス",
        &[(15.0, 0.0), (30.0, 0.00004)],
        &[(15.0, 0.0), (25.0, 0.0002), (50.0, 0.0003)],
        &[22],
        &[HB, WBC, PLT, CRE, EGFR],
        Care::Specialist
    ),
    cond!(
        "E75.2",
        "ファブリー病",
        &[(0.0, 0.00003)],
        &[(0.0, 0.00002)],
        &[],
        &[CRE, EGFR],
        Care::Specialist
    ),
    cond!(
        "I67.5",
        "もやもや病",
        &[(5.0, 0.0), (20.0, 0.00008)],
        &[(5.0, 0.0), (20.0, 0.00014)],
        &[],
        &[],
        Care::Specialist
    ),
];

/// Where an acute episode is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// A clinic visit.
    Outpatient,
    /// An outpatient visit at a hospital.
    HospitalOutpatient,
    /// Admission to a hospital for about this many days.
    Inpatient(u32),
    /// Emergency visit, then admission for about this many days.
    Emergency(u32),
}

/// An acute episode type.
pub struct Acute {
    /// ICD-10 code.
    pub icd10: &'static str,
    /// Japanese name.
    pub name: &'static str,
    /// Episodes per person-year for men by age.
    pub male: Curve,
    /// Episodes per person-year for women by age.
    pub female: Curve,
    /// Setting.
    pub setting: Setting,
    /// Drugs.
    pub drugs: &'static [usize],
    /// Chance that the diagnosis is first recorded as suspected (疑い).
    pub suspected: f64,
    /// First year the episode can happen (COVID-19 from 2020).
    pub from_year: i32,
}

macro_rules! acute {
    ($c:expr, $n:expr, $m:expr, $f:expr, $s:expr, $d:expr, $sp:expr, $y:expr) => {
        Acute {
            icd10: $c,
            name: $n,
            male: $m,
            female: $f,
            setting: $s,
            drugs: $d,
            suspected: $sp,
            from_year: $y,
        }
    };
}

/// Acute episodes.
pub static ACUTES: [Acute; 14] = [
    acute!(
        "J06.9",
        "急性上気道炎",
        &[(0.0, 2.0), (6.0, 1.0), (15.0, 0.4), (65.0, 0.3)],
        &[(0.0, 2.0), (6.0, 1.0), (15.0, 0.45), (65.0, 0.3)],
        Setting::Outpatient,
        &[14, 18],
        0.0,
        0
    ),
    acute!(
        "J11.1",
        "インフルエンザ",
        &[(0.0, 0.15), (15.0, 0.08)],
        &[(0.0, 0.15), (15.0, 0.08)],
        Setting::Outpatient,
        &[15, 14],
        0.3,
        0
    ),
    acute!(
        "A09",
        "感染性胃腸炎",
        &[(0.0, 0.3), (6.0, 0.08)],
        &[(0.0, 0.3), (6.0, 0.08)],
        Setting::Outpatient,
        &[19],
        0.1,
        0
    ),
    acute!(
        "J18.9",
        "肺炎",
        &[
            (0.0, 0.02),
            (10.0, 0.003),
            (65.0, 0.01),
            (80.0, 0.04),
            (90.0, 0.08)
        ],
        &[
            (0.0, 0.02),
            (10.0, 0.003),
            (65.0, 0.008),
            (80.0, 0.03),
            (90.0, 0.06)
        ],
        Setting::Inpatient(14),
        &[16],
        0.2,
        0
    ),
    acute!(
        "N39.0",
        "尿路感染症",
        &[(0.0, 0.005), (70.0, 0.03)],
        &[(0.0, 0.01), (15.0, 0.04), (70.0, 0.05)],
        Setting::Outpatient,
        &[16],
        0.1,
        0
    ),
    acute!(
        "U07.1",
        "COVID-19",
        &[(0.0, 0.1)],
        &[(0.0, 0.1)],
        Setting::Outpatient,
        &[14],
        0.25,
        2020
    ),
    acute!(
        "S72.0",
        "大腿骨頸部骨折",
        &[(60.0, 0.0), (75.0, 0.002), (85.0, 0.007), (95.0, 0.015)],
        &[(60.0, 0.0), (75.0, 0.005), (85.0, 0.015), (95.0, 0.03)],
        Setting::Emergency(30),
        &[17],
        0.0,
        0
    ),
    acute!(
        "S52.5",
        "橈骨遠位端骨折",
        &[(0.0, 0.002)],
        &[(0.0, 0.002), (55.0, 0.002), (65.0, 0.005)],
        Setting::HospitalOutpatient,
        &[17],
        0.1,
        0
    ),
    acute!(
        "S32.0",
        "腰椎圧迫骨折",
        &[(60.0, 0.0), (80.0, 0.004)],
        &[(60.0, 0.0), (70.0, 0.006), (85.0, 0.015)],
        Setting::HospitalOutpatient,
        &[17],
        0.15,
        0
    ),
    acute!(
        "I21.9",
        "急性心筋梗塞",
        &[(40.0, 0.0), (50.0, 0.001), (70.0, 0.003), (80.0, 0.005)],
        &[(50.0, 0.0), (70.0, 0.001), (80.0, 0.003)],
        Setting::Emergency(14),
        &[],
        0.2,
        0
    ),
    acute!(
        "I63.9",
        "脳梗塞",
        &[(50.0, 0.0), (60.0, 0.002), (75.0, 0.006), (85.0, 0.012)],
        &[(50.0, 0.0), (60.0, 0.001), (75.0, 0.004), (85.0, 0.01)],
        Setting::Emergency(30),
        &[],
        0.2,
        0
    ),
    acute!(
        "K35.8",
        "急性虫垂炎",
        &[(5.0, 0.0), (10.0, 0.001), (30.0, 0.001), (50.0, 0.0005)],
        &[(5.0, 0.0), (10.0, 0.001), (30.0, 0.0008), (50.0, 0.0004)],
        Setting::Inpatient(5),
        &[20],
        0.3,
        0
    ),
    acute!(
        "O80",
        "単胎自然分娩",
        &[(0.0, 0.0)],
        &[
            (19.0, 0.0),
            (22.0, 0.025),
            (27.0, 0.075),
            (32.0, 0.095),
            (37.0, 0.055),
            (42.0, 0.012),
            (46.0, 0.0)
        ],
        Setting::Inpatient(6),
        &[14],
        0.0,
        0
    ),
    acute!(
        "T78.4",
        "アレルギー反応",
        &[(0.0, 0.01)],
        &[(0.0, 0.012)],
        Setting::Outpatient,
        &[],
        0.2,
        0
    ),
];

/// Index of O80 (delivery) in [`ACUTES`]: a delivery also makes the newborn's mother visible.
pub const DELIVERY: usize = 12;

/// Vital signs and body measurements: (JLAC10-style code used by 特定健診, LOINC, name, unit).
pub struct Item {
    /// JLAC10-style / 特定健診 item code.
    pub code: &'static str,
    /// LOINC.
    pub loinc: &'static str,
    /// Japanese name.
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
}

macro_rules! item {
    ($c:expr, $l:expr, $n:expr, $u:expr) => {
        Item {
            code: $c,
            loinc: $l,
            name: $n,
            unit: $u,
        }
    };
}

/// Item indexes.
pub mod item {
    /// Height.
    pub const HEIGHT: usize = 0;
    /// Weight.
    pub const WEIGHT: usize = 1;
    /// BMI.
    pub const BMI: usize = 2;
    /// Waist.
    pub const WAIST: usize = 3;
    /// Systolic blood pressure.
    pub const SBP: usize = 4;
    /// Diastolic blood pressure.
    pub const DBP: usize = 5;
    /// Pulse.
    pub const PULSE: usize = 6;
    /// Body temperature.
    pub const TEMP: usize = 7;
    /// Head circumference.
    pub const HEAD: usize = 8;
}

/// Vital-sign and measurement items.
pub static ITEMS: [Item; 9] = [
    item!("9N001000000000001", "8302-2", "身長", "cm"),
    item!("9N006000000000001", "29463-7", "体重", "kg"),
    item!("9N011000000000001", "39156-5", "BMI", "kg/m2"),
    item!("9N016160100000001", "8280-0", "腹囲", "cm"),
    item!("9A751000000000001", "8480-6", "収縮期血圧", "mm[Hg]"),
    item!("9A761000000000001", "8462-4", "拡張期血圧", "mm[Hg]"),
    item!("9A201000000000001", "8867-4", "脈拍", "/min"),
    item!("9N501000000000011", "8310-5", "体温", "Cel"),
    item!("9N021000000000001", "9843-4", "頭囲", "cm"),
];

/// Mean height (cm) of Japanese boys / girls by age, 学校保健統計 and 乳幼児身体発育調査 (rounded);
/// adults by age from 国民健康・栄養調査.
pub static HEIGHT_M: Curve = &[
    (0.0, 49.0),
    (0.33, 63.0),
    (1.5, 81.0),
    (3.0, 95.0),
    (6.0, 116.5),
    (8.0, 128.1),
    (10.0, 138.9),
    (12.0, 152.7),
    (14.0, 165.2),
    (17.0, 170.6),
    (30.0, 171.5),
    (50.0, 170.5),
    (70.0, 165.0),
    (85.0, 160.0),
];
/// Girls and women.
pub static HEIGHT_F: Curve = &[
    (0.0, 48.5),
    (0.33, 61.5),
    (1.5, 80.0),
    (3.0, 94.0),
    (6.0, 115.6),
    (8.0, 127.3),
    (10.0, 140.1),
    (12.0, 151.9),
    (14.0, 156.5),
    (17.0, 157.9),
    (30.0, 158.5),
    (50.0, 157.5),
    (70.0, 151.5),
    (85.0, 146.0),
];
/// Mean weight (kg), boys and men.
pub static WEIGHT_M: Curve = &[
    (0.0, 3.0),
    (0.33, 6.8),
    (1.5, 10.4),
    (3.0, 14.1),
    (6.0, 21.4),
    (8.0, 27.2),
    (10.0, 34.4),
    (12.0, 44.5),
    (14.0, 54.0),
    (17.0, 62.5),
];
/// Girls and women.
pub static WEIGHT_F: Curve = &[
    (0.0, 2.9),
    (0.33, 6.3),
    (1.5, 9.8),
    (3.0, 13.6),
    (6.0, 20.9),
    (8.0, 26.4),
    (10.0, 34.1),
    (12.0, 43.7),
    (14.0, 49.9),
    (17.0, 52.5),
];

/// Receipt (レセ電) procedure codes used on claims lines.
pub mod receipt {
    /// 初診料.
    pub const FIRST_VISIT: (&str, &str) = ("111000110", "初診料");
    /// 再診料.
    pub const RETURN_VISIT: (&str, &str) = ("112007410", "再診料");
    /// 急性期一般入院料.
    pub const INPATIENT: (&str, &str) = ("190117710", "急性期一般入院料１");
    /// 処方箋料.
    pub const PRESCRIPTION: (&str, &str) = ("120002910", "処方箋料（その他）");
    /// 調剤基本料.
    pub const DISPENSING: (&str, &str) = ("100000110", "調剤基本料１");
    /// 検体検査判断料.
    pub const LAB: (&str, &str) = ("160061810", "検体検査判断料（生化学的検査（１））");
}

/// 介護サービスコード (service kind 2 digits + item 4 digits) with name and monthly units.
pub static CARE_SERVICES: [(&str, &str, u32); 5] = [
    ("151111", "通所介護１１", 5800),
    ("111111", "身体介護１", 2500),
    ("431111", "居宅介護支援ｉ１", 1076),
    ("511111", "介護福祉施設サービス", 20_000),
    ("521111", "介護保健施設サービス", 23_000),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_icd10_code_is_a_real_who_code() {
        let tree = tsunagu_model::icd10::tree();
        for c in CONDITIONS
            .iter()
            .map(|c| c.icd10)
            .chain(ACUTES.iter().map(|a| a.icd10))
        {
            assert!(tree.get(c).is_some(), "{c}");
        }
    }

    #[test]
    fn code_shapes() {
        for l in &LABS {
            assert_eq!(l.jlac10.len(), 17, "{}", l.name);
            assert!(l.low <= l.high);
        }
        for i in &ITEMS {
            assert_eq!(i.code.len(), 17, "{}", i.name);
        }
        for d in &DRUGS {
            assert_eq!(d.yj.len(), 12, "{}", d.name);
            assert!(d.yj[..7].bytes().all(|b| b.is_ascii_digit()));
            assert!(d.yj.as_bytes()[7].is_ascii_uppercase());
        }
        for c in &CONDITIONS {
            assert!(c.drugs.iter().all(|&d| d < DRUGS.len()));
        }
        assert_eq!(ACUTES[DELIVERY].icd10, "O80");
    }

    #[test]
    fn interpolation() {
        let c: Curve = &[(10.0, 1.0), (20.0, 3.0)];
        assert_eq!(interp(c, 0.0), 1.0);
        assert_eq!(interp(c, 15.0), 2.0);
        assert_eq!(interp(c, 99.0), 3.0);
    }
}
