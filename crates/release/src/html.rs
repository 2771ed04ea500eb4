//! `risk-report.html`: the report for people, Japanese first with English, in one self-contained
//! page (inline CSS, no scripts, no external assets). Every piece of text from the report goes
//! through [`escape`].

use std::fmt::Write as _;

use crate::report::{Report, Verdict};

/// HTML-escape text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn verdict_badge(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "<span class=\"pass\">適合 / Pass</span>",
        Verdict::Fail => "<span class=\"fail\">不適合 / Fail</span>",
    }
}

fn pass_badge(ok: bool) -> &'static str {
    verdict_badge(if ok { Verdict::Pass } else { Verdict::Fail })
}

/// Japanese labels of the finding rules the checks emit.
fn rule_ja(rule: &str) -> &'static str {
    match rule.trim_start_matches("note:") {
        "identifying_column" => "個人を識別する列",
        "area_too_fine" => "地域が細かすぎる",
        "area_unrecognized" => "地域の値が不明",
        "phone" => "電話番号",
        "email" => "メールアドレス",
        "my_number" => "個人番号",
        "insurer_number" => "保険者番号",
        "insured_symbol_number" => "被保険者記号・番号",
        "passport" => "旅券番号",
        "driver_licence" => "運転免許証番号",
        "id_without_pseudonym" => "仮IDでないID列",
        "pseudonym_format" => "仮IDの形式違反",
        "duplicate_person" => "仮IDの重複",
        "extract_id" => "抽出データのID",
        "internal_id" => "内部ID",
        "age_top_code" => "高齢のトップコーディング漏れ",
        "age_unrecognized" => "年齢の値が不明",
        "rare_code" => "希少なコード",
        "lab_outlier" => "検査値の外れ値",
        "tiny_area" => "人数の少ない地域",
        "k_anonymity" => "k-匿名性",
        "suppression_limit" => "秘匿の上限",
        "km_anonymity" => "k^m-匿名性",
        "persons_missing" => "persons表がない",
        "qi_column_absent" => "準識別子の列なし",
        _ => "",
    }
}

const STYLE: &str = "body{font-family:'Hiragino Sans','Noto Sans JP','Yu Gothic',sans-serif;\
max-width:980px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}\
h1{font-size:1.5em;border-bottom:2px solid #444}h2{font-size:1.2em;margin-top:2em;\
border-bottom:1px solid #aaa}table{border-collapse:collapse;margin:.5em 0;width:100%}\
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.pass{color:#fff;background:#2e7d32;padding:.1em .5em;border-radius:3px}\
.fail{color:#fff;background:#c62828;padding:.1em .5em;border-radius:3px}\
.en{color:#555;font-size:.92em}.bar{background:#4a78b5;height:1em;display:inline-block}\
.overall{font-size:1.3em;margin:1em 0}";

/// The report as one self-contained HTML page (no external assets; all text escaped).
pub fn render(report: &Report) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let e = escape;
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>リスク報告書 / Risk report — {}</title><style>{STYLE}</style></head><body>\n",
        e(&report.release_id)
    );
    let _ = write!(
        h,
        "<h1>匿名加工リスク報告書 <span class=\"en\">Risk report</span></h1>\n\
         <p class=\"overall\">総合判定 <span class=\"en\">Overall</span>: {}</p>\n",
        pass_badge(report.passed)
    );
    // Summary.
    h.push_str("<h2>概要 <span class=\"en\">Summary</span></h2>\n<table>\n");
    let rows: [(&str, &str, String); 7] = [
        ("提供ID", "Release", report.release_id.clone()),
        ("抽出ID", "Extract", report.extract_id.clone()),
        ("加工方針", "Policy", report.policy.clone()),
        (
            "加工の種類",
            "Mode",
            match report.mode.as_str() {
                "anonymized" => "匿名加工 (anonymized)".to_owned(),
                "pseudonymized" => "仮名加工 (pseudonymized)".to_owned(),
                m => m.to_owned(),
            },
        ),
        ("作成日時", "Created", report.created_at.clone()),
        ("提供人数", "Persons released", report.persons.to_string()),
        (
            "提供時に除外した人数(停止求め等)",
            "Excluded at release (stop requests…)",
            report.excluded_at_release.to_string(),
        ),
    ];
    for (ja, en, v) in rows {
        let _ = writeln!(
            h,
            "<tr><th>{ja} <span class=\"en\">{en}</span></th><td>{}</td></tr>",
            e(&v)
        );
    }
    h.push_str("</table>\n<table><tr><th>表 <span class=\"en\">Table</span></th><th>行数 <span class=\"en\">Rows</span></th></tr>\n");
    for (t, n) in &report.rows {
        let _ = writeln!(h, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", e(t));
    }
    h.push_str("</table>\n");

    // Measures.
    h.push_str("<h2>匿名加工の基準(5つの措置) <span class=\"en\">The five measures of the standard</span></h2>\n");
    for m in &report.measures {
        let _ = writeln!(
            h,
            "<h3 id=\"measure-{n}\">措置{n}: {} <span class=\"en\">Measure {n}: {}</span> {}</h3>",
            e(&m.title_ja),
            e(&m.title_en),
            verdict_badge(m.verdict),
            n = m.measure,
        );
        if m.findings.is_empty() {
            h.push_str("<p>指摘事項なし <span class=\"en\">No findings</span></p>\n");
            continue;
        }
        h.push_str("<table><tr><th>表 <span class=\"en\">Table</span></th><th>列 <span class=\"en\">Column</span></th><th>規則 <span class=\"en\">Rule</span></th><th>件数 <span class=\"en\">Count</span></th><th>内容 <span class=\"en\">Detail</span></th></tr>\n");
        for f in &m.findings {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} <span class=\"en\">{}</span></td><td class=\"n\">{}</td><td>{}</td></tr>",
                e(&f.table),
                e(f.column.as_deref().unwrap_or("—")),
                e(rule_ja(&f.rule)),
                e(&f.rule),
                f.count,
                e(&f.detail)
            );
        }
        h.push_str("</table>\n");
    }

    // Transformations.
    h.push_str("<h2>実施した加工 <span class=\"en\">What was done to the data</span></h2>\n");
    if report.transformations.is_empty() {
        h.push_str("<p>なし <span class=\"en\">None</span></p>\n");
    } else {
        h.push_str("<table><tr><th>表 <span class=\"en\">Table</span></th><th>列 <span class=\"en\">Column</span></th><th>処理 <span class=\"en\">Action</span></th><th>内容 <span class=\"en\">Detail</span></th><th>変更件数 <span class=\"en\">Changed</span></th></tr>\n");
        for t in &report.transformations {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{} <span class=\"en\">{}</span></td><td>{}</td><td class=\"n\">{}</td></tr>",
                e(&t.table),
                e(&t.column),
                e(action_ja(&t.action)),
                e(&t.action),
                e(&t.detail),
                t.changed
            );
        }
        h.push_str("</table>\n");
    }

    // k-anonymity and class sizes.
    h.push_str(
        "<h2>k-匿名性 <span class=\"en\">k-anonymity (verified on the output)</span></h2>\n",
    );
    match &report.k_anonymity {
        None => {
            h.push_str("<p>方針に k-匿名性なし <span class=\"en\">Not in the policy</span></p>\n")
        }
        Some(k) => {
            let _ = writeln!(
                h,
                "<p>k = {} {} — 準識別子 <span class=\"en\">quasi-identifiers</span>: {}; \
                 同値類 <span class=\"en\">classes</span>: {}; 最小の類 <span class=\"en\">smallest class</span>: {}; \
                 秘匿した人 <span class=\"en\">suppressed persons</span>: {}</p>",
                k.k,
                pass_badge(k.holds),
                e(&k.quasi_identifiers.join(", ")),
                k.equivalence_classes,
                k.min_class_size,
                k.suppressed_records
            );
            if !k.transformation.is_empty() {
                let levels: Vec<String> = k
                    .transformation
                    .iter()
                    .map(|(q, l)| format!("{q}: {l}"))
                    .collect();
                let _ = writeln!(
                    h,
                    "<p>一般化の水準 <span class=\"en\">Generalization levels</span>: {}</p>",
                    e(&levels.join(", "))
                );
            }
            h.push_str("<table><tr><th>類の大きさ <span class=\"en\">Class size</span></th><th>類の数 <span class=\"en\">Classes</span></th><th>人数 <span class=\"en\">Persons</span></th><th></th></tr>\n");
            let max = k
                .class_sizes
                .iter()
                .map(|(s, n)| s * n)
                .max()
                .unwrap_or(0)
                .max(1);
            for (size, n) in &k.class_sizes {
                let persons = size * n;
                let width = (persons as f64 / max as f64 * 100.0).round();
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{size}</td><td class=\"n\">{n}</td><td class=\"n\">{persons}</td>\
                     <td style=\"width:50%\"><span class=\"bar\" style=\"width:{width}%\"></span></td></tr>"
                );
            }
            h.push_str("</table>\n");
        }
    }

    // k^m.
    h.push_str("<h2>k<sup>m</sup>-匿名性(診断名の組合せ) <span class=\"en\">k<sup>m</sup>-anonymity of diagnosis sets</span></h2>\n");
    match &report.km_anonymity {
        None => h.push_str(
            "<p>方針に k<sup>m</sup>-匿名性なし <span class=\"en\">Not in the policy</span></p>\n",
        ),
        Some(km) => {
            let _ = writeln!(
                h,
                "<p>k = {}, m = {} {} — 一般化 <span class=\"en\">generalized</span>: {}; 秘匿 <span class=\"en\">suppressed</span>: {}; \
                 情報損失 <span class=\"en\">information loss</span>: {:.3}; 違反 <span class=\"en\">violations</span>: {}</p>",
                km.k,
                km.m,
                pass_badge(km.holds),
                km.generalized,
                km.suppressed,
                km.information_loss,
                km.violations
            );
        }
    }

    // Risk.
    h.push_str("<h2>再識別リスク <span class=\"en\">Re-identification risk</span></h2>\n");
    match &report.risk {
        None => h.push_str("<p>なし <span class=\"en\">None</span></p>\n"),
        Some(r) => {
            let _ = writeln!(
                h,
                "<table>\
                 <tr><th>検察官モデル最大 <span class=\"en\">Prosecutor, highest</span></th><td class=\"n\">{:.4}</td></tr>\
                 <tr><th>検察官モデル平均 <span class=\"en\">Prosecutor, average</span></th><td class=\"n\">{:.4}</td></tr>\
                 <tr><th>上限を超える人 <span class=\"en\">Records above the limit</span></th><td class=\"n\">{}</td></tr>\
                 <tr><th>標本一意の割合 <span class=\"en\">Sample uniques</span></th><td class=\"n\">{:.4}</td></tr>\
                 <tr><th>マーケターモデル <span class=\"en\">Marketer</span></th><td class=\"n\">{:.4}</td></tr>\
                 <tr><th>方針の上限 <span class=\"en\">Policy maximum</span></th><td class=\"n\">{:.4}</td></tr></table>",
                r.prosecutor_highest,
                r.prosecutor_average,
                r.records_at_risk,
                r.sample_uniques,
                r.marketer,
                r.max_risk
            );
        }
    }

    // Attack.
    h.push_str("<h2>再識別テスト <span class=\"en\">Re-identification attack test</span></h2>\n");
    match &report.attack {
        None => h.push_str("<p>実施せず <span class=\"en\">Not run</span></p>\n"),
        Some(a) => {
            let _ = writeln!(
                h,
                "<p>{}</p><table>\
                 <tr><th>シード <span class=\"en\">Seed</span></th><td class=\"n\">{}</td></tr>\
                 <tr><th>攻撃者の表の人数 <span class=\"en\">Persons in the attacker's table</span></th><td class=\"n\">{}</td></tr>\
                 <tr><th>攻撃者の知識 <span class=\"en\">Attacker knows</span></th><td>{}</td></tr>\
                 <tr><th>一意に一致 <span class=\"en\">Unique matches</span></th><td class=\"n\">{}</td></tr>\
                 <tr><th>一意かつ正しい一致 <span class=\"en\">Correct unique matches</span></th><td class=\"n\">{}</td></tr>\
                 <tr><th>再識別率 <span class=\"en\">Share re-identified</span></th><td class=\"n\">{:.4}</td></tr>\
                 <tr><th>上限 <span class=\"en\">Limit</span></th><td class=\"n\">{:.4}</td></tr></table>",
                pass_badge(a.passed),
                a.seed,
                a.sample,
                e(&a.knowledge.join(", ")),
                a.unique_matches,
                a.correct_unique_matches,
                a.reidentified_share,
                a.limit
            );
        }
    }

    // Utility.
    h.push_str("<h2>有用性 <span class=\"en\">Utility: statistics on the extract and on the release</span></h2>\n");
    if report.utility.is_empty() {
        h.push_str("<p>なし <span class=\"en\">None</span></p>\n");
    } else {
        h.push_str("<table><tr><th>統計量 <span class=\"en\">Statistic</span></th><th>群 <span class=\"en\">Group</span></th><th>抽出データ <span class=\"en\">Extract</span></th><th>提供データ <span class=\"en\">Release</span></th></tr>\n");
        for u in &report.utility {
            let rel = u
                .release
                .map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td></tr>",
                e(&u.statistic),
                e(&u.group),
                u.extract,
                e(&rel)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<p class=\"en\">この報告書は件数・パラメータ・一般化された区分のみを含み、個人の値は含みません。 \
                This report holds counts, parameters and generalized labels only, never a value of a person.</p>\n</body></html>\n");
    h
}

fn action_ja(action: &str) -> &'static str {
    match action {
        "drop" => "削除",
        "keep" => "保持",
        "pseudonym" => "仮ID化",
        "generalize" => "一般化",
        "date" => "日付の加工",
        "top_bottom_code" => "トップ/ボトムコーディング",
        "suppress_rare" => "希少値の秘匿",
        "suppress" => "秘匿",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::{
        Attack, Finding, KAnonymity, KmAnonymity, MeasureVerdict, Risk, TransformNote, Utility,
    };

    fn report() -> Report {
        let measures = (1..=5u8)
            .map(|n| MeasureVerdict {
                measure: n,
                title_ja: format!("措置タイトル{n}"),
                title_en: format!("Measure title {n}"),
                verdict: if n == 2 { Verdict::Fail } else { Verdict::Pass },
                findings: if n == 2 {
                    vec![Finding {
                        table: "conditions".into(),
                        column: Some("name<script>".into()),
                        rule: "my_number".into(),
                        count: 1,
                        detail: "a <b>planted</b> & value".into(),
                    }]
                } else {
                    Vec::new()
                },
            })
            .collect();
        Report {
            release_id: "rel-1".into(),
            extract_id: "ext-1".into(),
            policy: "anonymized-jp".into(),
            mode: "anonymized".into(),
            created_at: "2026-12-03T09:00:00Z".into(),
            persons: 100,
            rows: BTreeMap::from([("persons".into(), 100)]),
            excluded_at_release: 2,
            transformations: vec![TransformNote {
                table: "persons".into(),
                column: "age".into(),
                action: "generalize".into(),
                detail: "level 1".into(),
                changed: 100,
            }],
            k_anonymity: Some(KAnonymity {
                k: 5,
                quasi_identifiers: vec!["sex".into(), "age".into()],
                transformation: BTreeMap::from([("age".into(), 1)]),
                suppressed_records: 3,
                equivalence_classes: 2,
                min_class_size: 7,
                class_sizes: BTreeMap::from([(7, 1), (90, 1)]),
                holds: true,
            }),
            km_anonymity: Some(KmAnonymity {
                k: 5,
                m: 2,
                generalized: 4,
                suppressed: 1,
                information_loss: 0.1,
                violations: 0,
                holds: true,
            }),
            risk: Some(Risk {
                prosecutor_highest: 0.14,
                prosecutor_average: 0.02,
                records_at_risk: 0,
                sample_uniques: 0.0,
                marketer: 0.02,
                max_risk: 0.2,
            }),
            attack: Some(Attack {
                seed: 7,
                sample: 50,
                knowledge: vec!["sex".into()],
                unique_matches: 1,
                correct_unique_matches: 1,
                reidentified_share: 0.02,
                limit: 0.05,
                passed: true,
            }),
            utility: vec![Utility {
                statistic: "mean HbA1c".into(),
                group: "F <40".into(),
                extract: 6.1,
                release: None,
            }],
            measures,
            passed: false,
        }
    }

    #[test]
    fn contains_every_part_and_escapes() {
        let h = render(&report());
        for n in 1..=5 {
            assert!(h.contains(&format!("id=\"measure-{n}\"")), "measure {n}");
            assert!(h.contains(&format!("措置タイトル{n}")));
        }
        assert!(h.contains("不適合 / Fail"));
        assert!(h.contains("k-匿名性"));
        assert!(h.contains("再識別テスト"));
        assert!(h.contains("mean HbA1c"));
        assert!(h.contains("F &lt;40"));
        assert!(h.contains("name&lt;script&gt;"));
        assert!(h.contains("a &lt;b&gt;planted&lt;/b&gt; &amp; value"));
        assert!(!h.contains("<script"));
        assert!(!h.contains("<b>planted"));
        // The bar of the 90-person class is full width, the 7-person one proportionally shorter.
        assert!(h.contains("width:100%"));
        assert!(h.contains("width:8%"));
        // Self-contained: no external references.
        assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("src="));
        // Japanese before English.
        assert!(h.find("総合判定").unwrap_or(usize::MAX) < h.find("Overall").unwrap_or(0));
    }
}
