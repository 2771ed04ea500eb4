//! `tsunagu bench ingest`: intake throughput end to end — parse, opt-out gate, vault, encrypted
//! Parquet — on a synthetic population. Targets (issue 4, release build, 2 cores): FHIR NDJSON at
//! 50 MB/s or more, SS-MIX2 at 20,000 messages/s or more.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use tsunagu_pipeline::intake::IntakeOptions;

use crate::ctx::{Ctx, GlobalArgs};
use crate::measure::{peak_mib, reset_peak};
use crate::store::Store;

/// Arguments of `tsunagu bench ingest`.
#[derive(Args, Debug)]
pub struct BenchIngestArgs {
    /// Persons in the synthetic population.
    #[arg(long, default_value_t = 5_000)]
    pub persons: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Work directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub work: Option<PathBuf>,
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if ext.is_empty() || p.extension().and_then(|x| x.to_str()) == Some(ext) {
                out.push(p);
            }
        }
    }
    out
}

/// Run the benchmark.
pub fn run(ctx: &Ctx, a: BenchIngestArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let work = match &a.work {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("tsunagu-bench-ingest-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let synth = work.join("synth");
    if !synth.join("truth").exists() {
        let mut cfg = tsunagu_synth::Config::new(a.persons, a.seed);
        cfg.formats = vec![tsunagu_synth::Format::Fhir, tsunagu_synth::Format::Ssmix2];
        cfg.validate()?;
        eprintln!("generating {} persons …", a.persons);
        tsunagu_synth::generate(&cfg, &synth, &mut |_, _| {})?;
    }
    let results = ctx.block_on(async {
        let mut rows = Vec::new();
        for (name, fmt) in [("fhir-ndjson", "fhir"), ("ssmix2", "ssmix2")] {
            let store_dir = work.join(format!("store-{name}"));
            let _ = std::fs::remove_dir_all(&store_dir);
            let sctx = Ctx::new(GlobalArgs {
                data: Some(store_dir),
                database: None,
                ..ctx.global.clone()
            });
            let (store, _) = Store::init(&sctx).await?;
            store
                .ledger
                .import_ledger_dir(&ctx.actor_for("operator"), &synth.join("ledger"))
                .await?;
            let stores = store.data_stores().await?;
            let intake = store.intake(&stores, ctx.actor_for("operator"));
            // Each provider sends its own data: SS-MIX2 trees per hospital/clinic; the Bulk Data
            // NDJSON set is one export, sent here as from the provider with the most patients.
            let providers = store.ledger.list_providers().await?;
            let mut jobs: Vec<(tsunagu_model::ProviderId, Vec<PathBuf>)> = Vec::new();
            if fmt == "fhir" {
                let p = providers.first().map(|p| p.id.clone());
                if let Some(p) = p {
                    jobs.push((p, files(&synth.join("fhir"), "ndjson")));
                }
            } else {
                for p in &providers {
                    let tree = synth.join("ssmix2").join(p.code.as_str());
                    if tree.is_dir() {
                        jobs.push((p.id.clone(), vec![tree]));
                    }
                }
            }
            let bytes: u64 = jobs
                .iter()
                .flat_map(|(_, ps)| ps.iter())
                .map(|p| {
                    if p.is_dir() {
                        files(p, "")
                            .iter()
                            .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
                            .sum()
                    } else {
                        p.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum();
            reset_peak();
            let started = Instant::now();
            let (mut read, mut stored, mut held_rows, mut quarantined, mut units) =
                (0u64, 0u64, 0u64, 0usize, 0usize);
            for (p, paths) in &jobs {
                let s = intake
                    .ingest(
                        p,
                        paths,
                        IntakeOptions {
                            format: None,
                            mapping: None,
                            acquisition: "bench".into(),
                            at: chrono::Utc::now(),
                            chunk_bytes: tsunagu_pipeline::intake::DEFAULT_CHUNK_BYTES,
                        },
                    )
                    .await?;
                read += s.records_read;
                units += s.units_new;
                stored += s.rows_stored.values().sum::<u64>();
                held_rows += s.rows_held.values().sum::<u64>();
                quarantined += s.quarantined;
            }
            let secs = started.elapsed().as_secs_f64();
            drop(intake);
            stores.vault.close().await;
            store.close().await;
            rows.push(serde_json::json!({
                "format": name,
                "input_mb": bytes as f64 / 1e6,
                "records": read,
                "rows_stored": stored,
                "rows_held": held_rows,
                "quarantined": quarantined,
                "seconds": secs,
                "mb_per_s": bytes as f64 / 1e6 / secs,
                "records_per_s": read as f64 / secs,
                "files": units,
                "messages_per_s": if fmt == "ssmix2" { Some(units as f64 / secs) } else { None },
                "peak_mib": peak_mib(),
            }));
        }
        anyhow::Ok(rows)
    })??;
    ctx.emit(&serde_json::json!({ "persons": a.persons, "results": results }), || {
        let mut t = format!(
            "intake, end to end (parse → gate → vault → encrypted Parquet), {} persons\n{:<12} {:>9} {:>10} {:>8} {:>9} {:>12} {:>9}   target",
            a.persons, "format", "input MB", "records", "seconds", "MB/s", "records/s", "peak MiB"
        );
        if cfg!(debug_assertions) {
            t.insert_str(0, "(debug build: measure with `cargo run --release -- bench ingest`)\n");
        }
        for r in &results {
            let f = r["format"].as_str().unwrap_or("");
            t.push_str(&format!(
                "\n{:<12} {:>9.1} {:>10} {:>8.2} {:>9.1} {:>12.0} {:>9.0}   {}",
                f,
                r["input_mb"].as_f64().unwrap_or(0.0),
                r["records"].as_u64().unwrap_or(0),
                r["seconds"].as_f64().unwrap_or(0.0),
                r["mb_per_s"].as_f64().unwrap_or(0.0),
                r["records_per_s"].as_f64().unwrap_or(0.0),
                r["peak_mib"].as_f64().unwrap_or(0.0),
                match r["messages_per_s"].as_f64() {
                    Some(m) => format!("{m:.0} messages/s (target ≥ 20,000)"),
                    None => "target ≥ 50 MB/s".to_owned(),
                }
            ));
        }
        t
    });
    Ok(ExitCode::SUCCESS)
}
