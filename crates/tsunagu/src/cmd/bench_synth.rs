//! `tsunagu bench synth`: how fast the synthetic population generator runs and how much memory it
//! holds. The target (issue 3): 100,000 persons × 10 years of care in under a minute on 2 cores
//! (release build), and 1 million persons without running out of memory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use tsunagu_synth::{Config, Format};

use crate::ctx::{Ctx, exit, fail};

/// Arguments of `tsunagu bench synth`.
#[derive(Args, Debug)]
pub struct BenchSynthArgs {
    /// Persons to generate.
    #[arg(long, default_value_t = 100_000)]
    pub persons: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Formats to write (csv, fhir, ssmix2); ledger and truth are always written.
    #[arg(long, value_delimiter = ',', default_value = "csv")]
    pub formats: Vec<String>,
    /// Keep the output in this directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub work: Option<PathBuf>,
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Run the benchmark.
pub fn run(ctx: &Ctx, args: BenchSynthArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::new(args.persons, args.seed);
    cfg.formats = args
        .formats
        .iter()
        .map(|f| Format::parse(f))
        .collect::<Result<_, _>>()
        .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    cfg.validate()
        .map_err(|e| fail(exit::USAGE, e.to_string()))?;
    let tmp;
    let out = match &args.work {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let started = Instant::now();
    let summary = tsunagu_synth::generate(&cfg, &out, &mut |_, _| {})?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = dir_bytes(&out);
    let json = serde_json::json!({
        "bench": "synth",
        "persons": cfg.persons,
        "years": 10,
        "formats": args.formats,
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "seconds": secs,
        "persons_per_second": cfg.persons as f64 / secs,
        "peak_mib": crate::measure::peak_mib(),
        "output_bytes": bytes,
        "summary": summary,
    });
    ctx.emit(&json, || {
        format!(
            "synth: {} persons, {} records in {:.1} s ({:.0} persons/s) on {} threads; peak {} MiB; {:.1} GiB written",
            cfg.persons,
            summary.records,
            secs,
            cfg.persons as f64 / secs,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            crate::measure::peak_mib().map_or_else(|| "?".to_owned(), |m| format!("{m:.0}")),
            bytes as f64 / (1u64 << 30) as f64
        )
    });
    Ok(ExitCode::SUCCESS)
}
