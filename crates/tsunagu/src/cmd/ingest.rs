//! `tsunagu ingest`: take in what a provider sent, through the opt-out gate, into the vault and
//! the lake; and `tsunagu quarantine`: see and re-try what was not accepted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use tsunagu_pipeline::Format;
use tsunagu_pipeline::intake::IntakeOptions;
use tsunagu_pipeline::quarantine::Quarantine;

use crate::cmd::provider::provider_id;
use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Options of `tsunagu ingest`.
#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The provider that sent the data.
    #[arg(long, required_unless_present = "release_held")]
    pub provider: Option<String>,
    /// Files or directories (an SS-MIX2 storage root, a folder of FHIR Bundles or NDJSON, CSV).
    pub paths: Vec<PathBuf>,
    /// Force the format: fhir, ssmix2 or csv (default: detected).
    #[arg(long)]
    pub format: Option<String>,
    /// Mapping file (TOML) for a provider's own CSV layout.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// How the provider acquired the data (for the reception record).
    #[arg(long, default_value = "診療等の過程で取得")]
    pub acquisition: String,
    /// Release held data whose persons have become eligible (instead of ingesting).
    #[arg(long, conflicts_with_all = ["provider", "paths"])]
    pub release_held: bool,
    /// Input taken in at once, in MiB: larger input is parsed and stored chunk by chunk (a
    /// patient's SS-MIX2 folder, a Bundle or a CSV file is never cut; NDJSON is indexed first,
    /// then cut between lines), so memory follows this.
    #[arg(long, default_value_t = 256.0)]
    pub chunk_mib: f64,
}

/// Subcommands of `tsunagu quarantine`.
#[derive(Subcommand, Debug)]
pub enum QuarantineCmd {
    /// List quarantined inputs (position, field, reason; no personal data).
    List,
    /// Show one entry; with `--reveal`, decrypt the input's path and raw bytes (audited).
    Show {
        /// Entry id (q-…).
        id: String,
        /// Decrypt the raw input.
        #[arg(long)]
        reveal: bool,
    },
    /// Re-try entries with today's parsers (after a fix, or with `--mapping`): the records that
    /// are accepted now leave the quarantine, through the opt-out gate like any intake.
    Retry {
        /// Entry ids (q-…); `--all` for every entry.
        ids: Vec<String>,
        /// Re-try every entry.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// Mapping file (TOML) for CSV input.
        #[arg(long)]
        mapping: Option<PathBuf>,
    },
}

fn progress(ctx: &Ctx, msg: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    if ctx.json() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_message(msg.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Run `tsunagu ingest`.
pub fn run(ctx: &Ctx, a: IngestArgs) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let stores = store.data_stores().await?;
        let intake = store.intake(&stores, ctx.actor_for("operator"));
        if a.release_held {
            let bar = progress(ctx, "releasing held data");
            let s = intake.release_held(chrono::Utc::now()).await?;
            bar.finish_and_clear();
            ctx.emit(&serde_json::to_value(&s)?, || {
                format!(
                    "released {} persons ({} rows) to the lake; dropped {} who asked to stop; {} still held",
                    s.released_persons,
                    s.rows_released.values().sum::<u64>(),
                    s.refused_persons,
                    s.still_held_persons
                )
            });
        } else {
            let provider = provider_id(a.provider.as_deref().unwrap_or_default())?;
            if a.paths.is_empty() {
                return Err(fail(exit::USAGE, "name at least one file or directory to ingest"));
            }
            let mapping = match &a.mapping {
                Some(p) => {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("{}: cannot be read", p.display()))?;
                    Some(
                        tsunagu_ingest::csv_mapped::Mapping::from_toml(&text)
                            .map_err(|e| fail(exit::INPUT, format!("{}: {e}", p.display())))?,
                    )
                }
                None => None,
            };
            let opts = IntakeOptions {
                format: a.format.as_deref().map(Format::parse).transpose()?,
                mapping,
                acquisition: a.acquisition.clone(),
                at: chrono::Utc::now(),
                chunk_bytes: chunk_bytes(a.chunk_mib)?,
            };
            let bar = progress(ctx, "ingesting");
            let s = intake.ingest(&provider, &a.paths, opts).await?;
            bar.finish_and_clear();
            ctx.emit(&serde_json::to_value(&s)?, || {
                format!(
                    "files: {} new, {} already taken in\nrecords read: {}\npersons: {} — accepted {}, held {}, refused (stop request) {}\nrows stored: {}\nrows held: {}\nquarantined: {}, cancelled at source: {}{}",
                    s.units_new,
                    s.units_skipped,
                    s.records_read,
                    s.persons,
                    s.accepted_persons,
                    s.held_persons,
                    s.refused_persons,
                    s.rows_stored.values().sum::<u64>(),
                    s.rows_held.values().sum::<u64>(),
                    s.quarantined,
                    s.cancelled,
                    s.reception.as_deref().map(|r| format!("\nreception record: {r}")).unwrap_or_default()
                )
            });
        }
        drop(intake);
        stores.vault.close().await;
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}

/// Run `tsunagu quarantine`.
pub fn run_quarantine(ctx: &Ctx, c: QuarantineCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let q = Quarantine::open(&store.dir)?;
        match c {
            QuarantineCmd::List => {
                let all = q.list()?;
                ctx.emit(&serde_json::to_value(&all)?, || {
                    all.iter()
                        .map(|e| format!("{}  {}  {:<7} {}, field {}: {}", e.id, e.provider, e.format, e.position, e.field, e.reason))
                        .collect::<Vec<_>>()
                        .join("\n")
                });
            }
            QuarantineCmd::Retry { ids, all, mapping } => {
                let ids: Vec<String> = if all { q.list()?.into_iter().map(|e| e.id).collect() } else { ids };
                if ids.is_empty() {
                    return Err(fail(exit::USAGE, "name entries to re-try, or --all"));
                }
                let mapping = match &mapping {
                    Some(p) => {
                        let text = std::fs::read_to_string(p).with_context(|| format!("{}: cannot be read", p.display()))?;
                        Some(
                            tsunagu_ingest::csv_mapped::Mapping::from_toml(&text)
                                .map_err(|e| fail(exit::INPUT, format!("{}: {e}", p.display())))?,
                        )
                    }
                    None => None,
                };
                let stores = store.data_stores().await?;
                let intake = store.intake(&stores, ctx.actor_for("operator"));
                let r = intake.retry(&ids, mapping, chrono::Utc::now()).await?;
                drop(intake);
                stores.vault.close().await;
                ctx.emit(&serde_json::to_value(&r)?, || {
                    format!(
                        "re-tried {}: {} accepted now, {} still rejected, {} whose file changed or vanished (ingest it again)",
                        r.retried, r.resolved, r.still_rejected, r.file_changed
                    )
                });
            }
            QuarantineCmd::Show { id, reveal } => {
                let e = q.get(&id)?;
                let mut v = serde_json::to_value(&e)?;
                let mut text = format!(
                    "id        {}\nprovider  {}\nunit      {}\nformat    {}\nposition  {}\nfield     {}\nreason    {}\nat        {}",
                    e.id, e.provider, e.unit, e.format, e.position, e.field, e.reason, e.at
                );
                if reveal {
                    let vault = store.vault().await?;
                    let (path, raw) = q.reveal(&vault, &id)?;
                    // Reading quarantined input is a read of personal data: audited.
                    store
                        .ledger
                        .record_event(&ctx.actor_for("operator"), "quarantine.reveal", "quarantine", &id, serde_json::json!({}))
                        .await?;
                    let raw_text = raw.as_deref().map(|r| String::from_utf8_lossy(r).into_owned());
                    v["path"] = serde_json::json!(path);
                    v["raw"] = serde_json::json!(raw_text);
                    text.push_str(&format!("\npath      {}\nraw       {}", path.display(), raw_text.unwrap_or_default()));
                    vault.close().await;
                }
                ctx.emit(&v, || text.clone());
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}

/// `--chunk-mib` in bytes: a positive number of MiB (fractions allowed, at least one byte).
fn chunk_bytes(mib: f64) -> anyhow::Result<u64> {
    if !(mib.is_finite() && mib > 0.0) {
        return Err(fail(exit::USAGE, "--chunk-mib must be a positive number"));
    }
    Ok(((mib * 1_048_576.0) as u64).max(1))
}
