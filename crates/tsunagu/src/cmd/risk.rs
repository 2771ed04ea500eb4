//! `tsunagu risk`: re-identification risk of a CSV table over its quasi-identifiers (prosecutor, journalist,
//! marketer; sample uniques; population uniqueness by Pitman, Zayatz, SNB and Dankar's rule).

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use tsunagu_anon::risk::{RiskReport, assess, class_sizes};

use crate::cmd::anonymize::read_table;
use crate::ctx::{Ctx, exit, fail};

/// Arguments of `tsunagu risk`.
#[derive(Args, Debug)]
pub struct RiskArgs {
    /// Input CSV with a header line.
    pub input: PathBuf,
    /// Quasi-identifiers (columns).
    #[arg(long, value_delimiter = ',', required = true)]
    pub qi: Vec<String>,
    /// Field delimiter; detected from the header line when omitted.
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Size of the population the table was sampled from.
    #[arg(long, conflicts_with = "sampling_fraction")]
    pub population_size: Option<f64>,
    /// Sampling fraction of the table (records / population).
    #[arg(long)]
    pub sampling_fraction: Option<f64>,
    /// Per-record risk above which a record counts as at risk.
    #[arg(long, default_value_t = 0.2)]
    pub threshold: f64,
    /// Report (JSON).
    #[arg(long)]
    pub report: PathBuf,
}

#[derive(Serialize)]
struct Report<'a> {
    input: String,
    quasi_identifiers: &'a [String],
    #[serde(flatten)]
    risk: &'a RiskReport,
}

/// Run `tsunagu risk`.
pub fn run(ctx: &Ctx, args: RiskArgs) -> anyhow::Result<ExitCode> {
    if !(args.threshold > 0.0 && args.threshold <= 1.0) {
        return Err(fail(exit::USAGE, "--threshold must be in (0, 1]"));
    }
    let table = read_table(&args.input, args.delimiter)?;
    let n = table.rows.len() as f64;
    let population = match (args.population_size, args.sampling_fraction) {
        (Some(p), _) if p.is_finite() && p >= n => p,
        (Some(_), _) => {
            return Err(fail(
                exit::USAGE,
                "--population-size must be at least the number of records",
            ));
        }
        (None, Some(f)) if f > 0.0 && f <= 1.0 => n / f,
        (None, Some(_)) => return Err(fail(exit::USAGE, "--sampling-fraction must be in (0, 1]")),
        (None, None) => n,
    };
    let mut columns = Vec::new();
    let mut combinations = 1.0f64;
    for q in &args.qi {
        let j = table.header.iter().position(|h| h == q).ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("attribute {q} is not a column of the input"),
            )
        })?;
        let col: Vec<&str> = table.rows.iter().map(|r| r[j].as_str()).collect();
        combinations *= col.iter().collect::<HashSet<_>>().len().max(1) as f64;
        columns.push(col);
    }
    let sizes = class_sizes(table.rows.len(), &columns);
    let risk = assess(&sizes, population, args.threshold, combinations);
    let report = Report {
        input: args.input.display().to_string(),
        quasi_identifiers: &args.qi,
        risk: &risk,
    };
    let json = serde_json::to_string_pretty(&report)?;
    fs::write(&args.report, format!("{json}\n")).map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{}: cannot write: {e}", args.report.display()),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&json)?;
    ctx.emit(&value, || {
        let p = &risk.population;
        format!(
            "{} records, {} classes, {} sample uniques ({:.2} %)\nprosecutor: highest {:.4}, average {:.4}, at risk {:.2} %\njournalist: highest {:.4}, average {:.4}, at risk {:.2} %\nmarketer: {:.4}\npopulation uniqueness (π = {:.4}): pitman {}, zayatz {}, snb {}; Dankar's rule: {} {}",
            risk.records,
            risk.classes,
            risk.sample_uniques,
            100.0 * risk.sample_uniqueness,
            risk.prosecutor.highest,
            risk.prosecutor.average,
            100.0 * risk.prosecutor.records_at_risk,
            risk.journalist.highest,
            risk.journalist.average,
            100.0 * risk.journalist.records_at_risk,
            risk.marketer,
            p.sampling_fraction,
            fmt(p.pitman),
            fmt(p.zayatz),
            fmt(p.snb),
            p.dankar_model.as_deref().unwrap_or("none"),
            fmt(p.dankar),
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.6}"))
}
