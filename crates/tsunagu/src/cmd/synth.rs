//! `tsunagu synth`: generate a synthetic Japanese population with medical records, ledger files
//! and ground truth.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tsunagu_synth::{Config, Format};

use crate::ctx::{Ctx, exit, fail};

/// Arguments of `tsunagu synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Number of persons.
    #[arg(long, default_value_t = 1000)]
    pub persons: u64,
    /// Seed: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of providers (default: persons / 100, at least 14).
    #[arg(long)]
    pub providers: Option<u32>,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long, default_value = "2016-01-01")]
    pub start: String,
    /// Last day of the period (YYYY-MM-DD).
    #[arg(long, default_value = "2025-12-31")]
    pub end: String,
    /// Formats besides ledger/ and truth/: any of csv, fhir, ssmix2.
    #[arg(long, value_delimiter = ',', default_value = "csv,fhir,ssmix2")]
    pub formats: Vec<String>,
    /// Generate without identity noise (every provider holds the true identity).
    #[arg(long)]
    pub no_noise: bool,
}

fn date(s: &str, what: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| fail(exit::USAGE, format!("--{what} must be a date YYYY-MM-DD")))
}

/// Build the generator configuration from the arguments.
pub fn config(args: &SynthArgs) -> anyhow::Result<Config> {
    let mut cfg = Config::new(args.persons, args.seed);
    cfg.providers = args.providers;
    cfg.start = date(&args.start, "start")?;
    cfg.end = date(&args.end, "end")?;
    cfg.formats = args
        .formats
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<_, _>>()
        .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    if args.no_noise {
        cfg.noise = tsunagu_synth::NoiseConfig::none();
    }
    cfg.validate()
        .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    Ok(cfg)
}

/// Run `tsunagu synth`.
pub fn run(ctx: &Ctx, args: SynthArgs) -> anyhow::Result<ExitCode> {
    let cfg = config(&args)?;
    // indicatif draws only when standard error is a terminal.
    let bar = ProgressBar::with_draw_target(Some(cfg.persons), ProgressDrawTarget::stderr());
    if ctx.json() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {wide_bar} {pos}/{len} persons ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let summary = tsunagu_synth::generate(&cfg, &args.out, &mut |done, _| bar.set_position(done))
        .map_err(|e| match e {
        tsunagu_synth::Error::Config(_) => fail(exit::USAGE, e.to_string()),
        other => anyhow::Error::new(other),
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let json = serde_json::json!({
        "out": args.out.display().to_string(),
        "seed": cfg.seed,
        "summary": summary,
        "seconds": secs,
    });
    ctx.emit(&json, || {
        format!(
            "wrote {} persons, {} providers, {} patient records, {} records, {} notices, {} stop requests to {} in {:.1} s",
            summary.persons,
            summary.providers,
            summary.patient_records,
            summary.records,
            summary.notices,
            summary.stops,
            args.out.display(),
            secs
        )
    });
    Ok(ExitCode::SUCCESS)
}
