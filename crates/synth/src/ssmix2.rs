//! SS-MIX2 standardized storage (標準化ストレージ) for hospitals and clinics: HL7 v2.5 messages
//! encoded in ISO-2022-JP, laid out as the SS-MIX2 標準化ストレージ仕様書 describes and as the
//! public sample tree shows:
//!
//! ```text
//! ssmix2/<provider code>/<id[0..3]>/<id[3..6]>/<id>/<date|->/<data type>/
//!     <id>_<date|->_<data type>_<order no, 15>_<timestamp yyyyMMddHHmmssfff>_<dept|->_<flag>
//! ```
//!
//! Data types written: ADT-00 (patient, A08), PPR-01 (problems, ZD1), OMP-01 (prescription,
//! RDE^O11), OML-11 (lab results, OUL^R22), ADT-22 (admission, A01), ADT-52 (discharge, A03).
//! Segments end with CR. Characters that ISO-2022-JP cannot carry (e.g. 𠮷) are written as
//! 〓 (the geta mark), as Japanese systems do for 外字. Half-width kana come out full-width:
//! ISO-2022-JP has no half-width katakana.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use encoding_rs::ISO_2022_JP;
use tsunagu_model::ProviderKind;

use crate::Error;
use crate::clinical::{DRUGS, LABS};
use crate::sim::{EncClass, HeldIdentity, PersonOut, RecKind};
use crate::world::{Provider, World};

/// A PV1 segment (with its CR) from (field number, value) pairs in ascending order; PV1-1 is the
/// set id.
fn pv1_segment(fields: &[(usize, String)]) -> String {
    let mut seg = String::from("PV1|0001");
    let mut at = 1;
    for (n, v) in fields {
        while at < *n {
            seg.push('|');
            at += 1;
        }
        seg.push_str(v);
    }
    seg.push('\r');
    seg
}

const MSH21: &str = "SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO";
/// Order number used where a message has no order (as the sample tree does).
const NO_ORDER: &str = "999999999999999";

/// Department code (local table; SS-MIX2 leaves 診療科コード to each hospital).
pub fn dept_code(dept: &str) -> &'static str {
    match dept {
        "内科" => "01",
        "小児科" => "02",
        "外科" => "03",
        "整形外科" => "04",
        "産婦人科" => "05",
        "循環器内科" => "06",
        "脳神経外科" => "07",
        "神経内科" => "08",
        "腫瘍内科" => "09",
        "救急科" => "10",
        _ => "99",
    }
}

/// Escape HL7 delimiters in a field value.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => o.push_str("\\F\\"),
            '^' => o.push_str("\\S\\"),
            '~' => o.push_str("\\R\\"),
            '&' => o.push_str("\\T\\"),
            '\\' => o.push_str("\\E\\"),
            '\r' | '\n' => o.push(' '),
            _ => o.push(c),
        }
    }
    o
}

/// Encode as ISO-2022-JP, writing characters it cannot carry as 〓.
pub fn encode(text: &str) -> Vec<u8> {
    let (bytes, _, had_errors) = ISO_2022_JP.encode(text);
    if !had_errors {
        return bytes.into_owned();
    }
    let mut fixed = String::with_capacity(text.len());
    let mut tmp = [0u8; 4];
    for c in text.chars() {
        let (_, _, bad) = ISO_2022_JP.encode(c.encode_utf8(&mut tmp));
        fixed.push(if bad { '〓' } else { c });
    }
    ISO_2022_JP.encode(&fixed).0.into_owned()
}

/// The directory of one patient in a provider's storage.
pub fn patient_dir(root: &Path, provider_code: &str, id: &str) -> PathBuf {
    root.join(provider_code)
        .join(&id[..3])
        .join(&id[3..6])
        .join(id)
}

/// The file name of one message.
pub fn file_name(id: &str, date: &str, kind: &str, order: &str, ts: &str, dept: &str) -> String {
    format!("{id}_{date}_{kind}_{order}_{ts}_{dept}_1")
}

fn msh(p: &Provider, ts: &str, ty: &str, ctrl: &str) -> String {
    format!(
        "MSH|^~\\&|TSUNAGU|{}|GW|RCV|{ts}||{ty}|{ctrl}|P|2.5||||||~ISO IR87||ISO 2022-1994|{MSH21}\r",
        p.code
    )
}

fn pid(h: &HeldIdentity, male: bool, full: bool) -> String {
    let mut s = format!(
        "PID|0001||{}^^^^PI||{}^{}^^^^^L^I~{}^{}^^^^^L^P||{}|{}",
        h.id,
        esc(&h.family),
        esc(&h.given),
        esc(&h.family_kana),
        esc(&h.given_kana),
        h.birth.format("%Y%m%d"),
        if male { "M" } else { "F" }
    );
    if full {
        let _ = write!(s, "|||^^^^{}^JPN^H^{}", esc(&h.postal), esc(&h.address));
        if !h.phone.is_empty() {
            let _ = write!(s, "||^PRN^PH^^^^^^^^^{}", esc(&h.phone));
        }
    }
    s.push('\r');
    s
}

fn d8(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

struct Writer<'a> {
    dir: PathBuf,
    p: &'a Provider,
    h: &'a HeldIdentity,
    male: bool,
    count: u64,
    seq: u32,
}

impl Writer<'_> {
    /// Write one message into the `date` folder (`None`: the "-" folder of undated data),
    /// stamped on `stamp_day`.
    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        date: Option<NaiveDate>,
        stamp_day: NaiveDate,
        kind: &str,
        order: &str,
        dept: &str,
        ty: &str,
        body: &str,
    ) -> Result<(), Error> {
        self.seq += 1;
        let date_s = date.map_or_else(|| "-".to_owned(), d8);
        // A deterministic time of day: the message sequence spreads files over the day so
        // timestamps (part of the file name) stay unique per patient.
        let secs = 8 * 3600 + (self.seq * 37) % (10 * 3600);
        let ts = format!(
            "{}{:02}{:02}{:02}{:03}",
            d8(stamp_day),
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            self.seq % 1000
        );
        let ctrl = format!("{}{:05}", &ts[..14], self.seq % 100_000);
        // ADT messages carry EVN between MSH and PID.
        let (evn, rest) = match body.strip_prefix("EVN") {
            Some(_) => body.split_at(body.find('\r').map_or(body.len(), |i| i + 1)),
            None => ("", body),
        };
        let text = format!(
            "{}{evn}{}{rest}",
            msh(self.p, &ts, ty, &ctrl),
            pid(self.h, self.male, kind == "ADT-00")
        );
        let dir = self.dir.join(&date_s).join(kind);
        fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(file_name(&self.h.id, &date_s, kind, order, &ts, dept));
        // Storage writers end each stored message with the MLLP end byte 0x1C: without it a
        // file cut short cannot be told from a complete one (every file of the public sample
        // tree has it, and intake requires it).
        let mut bytes = encode(&text);
        bytes.extend_from_slice(b"\x1c\r");
        fs::write(&path, bytes).map_err(|source| Error::Io { path, source })?;
        self.count += 1;
        Ok(())
    }
}

/// Write the storage of every hospital and clinic that holds data on `p`. Returns the number of
/// files written.
pub fn write_person(w: &World, p: &PersonOut, out: &Path) -> Result<u64, Error> {
    let root = out.join("ssmix2");
    let mut total = 0;
    for (&prov, link) in &p.links {
        let pr = &w.providers[prov as usize];
        if !matches!(pr.kind, ProviderKind::Hospital | ProviderKind::Clinic)
            || link.identity.id.len() < 6
        {
            continue;
        }
        let h = &link.identity;
        let mut wr = Writer {
            dir: patient_dir(&root, &pr.code, &h.id),
            p: pr,
            h,
            male: p.male,
            count: 0,
            seq: 0,
        };
        let recs: Vec<_> = p.recs.iter().filter(|r| r.prov == prov).collect();

        // ADT-00: the patient as last known.
        let pv1 = "PV1|0001|N\r";
        let in1 = format!(
            "IN1|1|{}^^JHSD0001|{}|||||||||||||||SEL^本人^HL70063\r",
            if h.insurer_number.len() == 6 {
                "00"
            } else {
                &h.insurer_number[..2]
            },
            h.insurer_number
        );
        wr.write(
            None,
            link.last,
            "ADT-00",
            NO_ORDER,
            "-",
            "ADT^A08^ADT_A01",
            &format!("EVN||{}000000\r{pv1}{in1}", d8(link.last)),
        )?;

        // PPR-01: the problem list.
        let mut prb = String::new();
        let mut last_diag = None;
        for (i, r) in recs.iter().enumerate() {
            if let RecKind::Diagnosis {
                icd10,
                name,
                suspected,
                main,
            } = &r.kind
            {
                let code = icd10.replace('.', "");
                let _ = write!(
                    prb,
                    "PRB|AD|{d}|{code}^{n}^I10|{i:015}|||{d}||{d}|{code}^^I10|||||{d}|{d}|{n}{sus}|{m}\r",
                    d = d8(r.date),
                    n = esc(name),
                    sus = if *suspected { "の疑い" } else { "" },
                    m = if *main { "1^主診断^JHSD0007" } else { "" },
                );
                last_diag = Some(r.date);
            }
        }
        if let Some(d) = last_diag {
            wr.write(None, d, "PPR-01", NO_ORDER, "-", "PPR^ZD1^PPR_ZD1", &prb)?;
        }

        // Encounter departments and classes for PV1.
        let mut enc_info: BTreeMap<u32, (EncClass, &'static str)> = BTreeMap::new();
        for r in &recs {
            if let RecKind::Encounter { class, end, dept } = &r.kind {
                enc_info.insert(r.enc, (*class, dept));
                if *class == EncClass::Inpatient {
                    // PV1-3 location, PV1-10 hospital service, PV1-44 admission time.
                    let pv = pv1_segment(&[
                        (2, "I".into()),
                        (3, format!("{}^^^^^N", dept_code(dept))),
                        (10, dept_code(dept).into()),
                        (44, format!("{}100000", d8(r.date))),
                    ]);
                    wr.write(
                        Some(r.date),
                        r.date,
                        "ADT-22",
                        NO_ORDER,
                        dept_code(dept),
                        "ADT^A01^ADT_A01",
                        &format!("EVN||{}100000\r{pv}", d8(r.date)),
                    )?;
                    // The discharge repeats the admission time (PV1-44) beside its own (PV1-45),
                    // so the stay reads whole from either message.
                    let pv = pv1_segment(&[
                        (2, "I".into()),
                        (3, format!("{}^^^^^N", dept_code(dept))),
                        (10, dept_code(dept).into()),
                        (44, format!("{}100000", d8(r.date))),
                        (45, format!("{}100000", d8(*end))),
                    ]);
                    wr.write(
                        Some(*end),
                        *end,
                        "ADT-52",
                        NO_ORDER,
                        dept_code(dept),
                        "ADT^A03^ADT_A03",
                        &format!("EVN||{}100000\r{pv}", d8(*end)),
                    )?;
                }
            }
        }

        // OMP-01 and OML-11, one message per order.
        let mut orders: BTreeMap<(NaiveDate, u32, bool), Vec<&RecKind>> = BTreeMap::new();
        let mut order_enc: BTreeMap<(NaiveDate, u32, bool), u32> = BTreeMap::new();
        for r in &recs {
            match &r.kind {
                RecKind::Prescription { order, .. } => {
                    orders
                        .entry((r.date, *order, false))
                        .or_default()
                        .push(&r.kind);
                    order_enc.insert((r.date, *order, false), r.enc);
                }
                RecKind::Lab { order, .. } => {
                    orders
                        .entry((r.date, *order, true))
                        .or_default()
                        .push(&r.kind);
                    order_enc.insert((r.date, *order, true), r.enc);
                }
                _ => {}
            }
        }
        for ((date, order, is_lab), items) in orders {
            let enc = order_enc.get(&(date, order, is_lab)).copied().unwrap_or(0);
            let (class, dept) = enc_info
                .get(&enc)
                .copied()
                .unwrap_or((EncClass::Outpatient, "内科"));
            let dc = dept_code(dept);
            let pv_class = if class == EncClass::Inpatient {
                "I"
            } else {
                "O"
            };
            let order_no = format!(
                "{:0>15}",
                format!("{}{order:05}", &h.id[..h.id.len().min(10)])
            );
            let mut body = format!("PV1|0001|{pv_class}|{dc}^^^^^C\r");
            if is_lab {
                let _ = write!(
                    body,
                    "SPM|1|{order_no}||023^血清^JC10|||||||||||||{}090000\r",
                    d8(date)
                );
                let _ = write!(
                    body,
                    "OBR|1|{order_no}|{order_no}|E001^検体検査^99O03|||{d}|{d}\r",
                    d = d8(date)
                );
                for (i, it) in items.iter().enumerate() {
                    if let RecKind::Lab { lab, value, .. } = it {
                        let l = &LABS[*lab];
                        let v = crate::output::fmt_value(*value, l.decimals);
                        let flag = if *value < l.low {
                            "L"
                        } else if *value > l.high {
                            "H"
                        } else {
                            "N"
                        };
                        let _ = write!(
                            body,
                            "OBX|{}|NM|{}^{}^JC10||{v}|{u}^{u}^99XYZ|{}-{}|{flag}|||F|||{}090000\r",
                            i + 1,
                            l.jlac10,
                            esc(l.name),
                            crate::output::fmt_value(l.low, l.decimals),
                            crate::output::fmt_value(l.high, l.decimals),
                            d8(date),
                            u = esc(l.unit),
                        );
                    }
                }
                wr.write(
                    Some(date),
                    date,
                    "OML-11",
                    &order_no,
                    dc,
                    "OUL^R22^OUL_R22",
                    &body,
                )?;
            } else {
                for (i, it) in items.iter().enumerate() {
                    if let RecKind::Prescription { drug, days, .. } = it {
                        let d = &DRUGS[*drug];
                        let _ = write!(
                            body,
                            "ORC|NW|{order_no}||{}|||||{}100000|||||{dc}^^^^^C||||{dc}^^99XY1|||||{}\r",
                            i + 1,
                            d8(date),
                            esc(&pr.name)
                        );
                        let _ = write!(
                            body,
                            "RXE||{}^{}^99YJC|{}||{u}^{u}^MR9P|||||{}|{u}^{u}^MR9P\r",
                            d.yj,
                            esc(d.name),
                            crate::output::fmt_value(d.per_day, 3)
                                .trim_end_matches('0')
                                .trim_end_matches('.'),
                            crate::output::fmt_value(d.per_day * f64::from(*days), 3)
                                .trim_end_matches('0')
                                .trim_end_matches('.'),
                            u = esc(d.unit),
                        );
                        let _ = write!(body, "TQ1|1||{}|||{days}^d|{}\r", esc(d.usage), d8(date));
                        body.push_str("RXR|PO^口^HL70162\r");
                    }
                }
                wr.write(
                    Some(date),
                    date,
                    "OMP-01",
                    &order_no,
                    dc,
                    "RDE^O11^RDE_O11",
                    &body,
                )?;
            }
        }
        total += wr.count;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_iso_2022_jp_with_geta_for_gaiji() {
        let b = encode("𠮷田^ﾖｼﾀﾞ|髙橋");
        let (text, _, bad) = encoding_rs::ISO_2022_JP.decode(&b);
        assert!(!bad);
        assert!(text.starts_with("〓田^ヨシ"));
        assert!(text.ends_with("髙橋"));
        assert!(b.iter().all(|&c| c < 0x80), "7-bit");
    }

    #[test]
    fn escapes_delimiters_and_names_files() {
        assert_eq!(esc("a|b^c~d&e\\f"), "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f");
        assert_eq!(
            file_name(
                "0012345",
                "20240101",
                "OMP-01",
                "000000012345001",
                "20240101080037001",
                "01"
            ),
            "0012345_20240101_OMP-01_000000012345001_20240101080037001_01_1"
        );
        let d = patient_dir(Path::new("/s"), "1312345678", "0012345");
        assert_eq!(d, Path::new("/s/1312345678/001/234/0012345"));
    }
}
