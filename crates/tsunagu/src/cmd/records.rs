//! `tsunagu records`: reception (受領記録) and provision (提供記録) records.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use tsunagu_ledger::{NewProvision, NewReception, RecordKind, RecordsExport};

use crate::cmd::provider::provider_id;
use crate::ctx::{Ctx, exit, fail};
use crate::store::{Store, write_atomic};

/// Subcommands of `tsunagu records`.
#[derive(Subcommand, Debug)]
pub enum RecordsCmd {
    /// Export records for inspection.
    Export {
        /// reception or provision.
        #[arg(long)]
        kind: String,
        /// csv or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// From this date (YYYY-MM-DD), inclusive.
        #[arg(long)]
        from: Option<String>,
        /// To this date (YYYY-MM-DD), inclusive.
        #[arg(long)]
        to: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Record a reception made outside `tsunagu ingest` (e.g. on paper or media).
    AddReception {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// How the provider acquired the data.
        #[arg(long)]
        acquisition: String,
        /// Date received (YYYY-MM-DD).
        #[arg(long)]
        received_on: String,
        /// Counts per data item: `item=count`, repeated.
        #[arg(long = "count", value_name = "ITEM=N", required = true)]
        counts: Vec<String>,
    },
    /// Record a provision made outside `tsunagu release`.
    AddProvision {
        /// Recipient.
        #[arg(long)]
        recipient: String,
        /// Date provided.
        #[arg(long)]
        provided_on: String,
        /// Request reference.
        #[arg(long)]
        request: String,
        /// Approval reference.
        #[arg(long)]
        approval: String,
        /// Policy.
        #[arg(long)]
        policy: String,
        /// SHA-256 of the package.
        #[arg(long)]
        digest: String,
        /// Counts per data item: `item=count`, repeated.
        #[arg(long = "count", value_name = "ITEM=N", required = true)]
        counts: Vec<String>,
    },
    /// Delete records recorded before a date; refused inside the retention period.
    Purge {
        /// reception or provision.
        #[arg(long)]
        kind: String,
        /// Records recorded before this date (YYYY-MM-DD).
        #[arg(long)]
        before: String,
    },
}

fn date(what: &str, s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        fail(
            exit::INPUT,
            format!("{what}: must be a real date written YYYY-MM-DD"),
        )
    })
}

fn counts(v: &[String]) -> anyhow::Result<BTreeMap<String, u64>> {
    v.iter()
        .map(|c| {
            let (k, n) = c
                .split_once('=')
                .ok_or_else(|| fail(exit::INPUT, "--count: write item=number"))?;
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| fail(exit::INPUT, "--count: the count must be a whole number"))?;
            Ok((k.trim().to_owned(), n))
        })
        .collect()
}

fn to_csv(export: &RecordsExport) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let json = |v: &dyn erased::Ser| v.to_json();
    match export {
        RecordsExport::Reception(rs) => {
            w.write_record([
                "id",
                "provider_id",
                "provider_name",
                "provider_address",
                "representative",
                "filing_ref",
                "acquisition",
                "received_on",
                "data_items",
                "record_counts",
                "recorded_at",
            ])?;
            for r in rs {
                w.write_record([
                    r.id.as_str(),
                    &r.provider_id,
                    &r.provider_name,
                    &r.provider_address,
                    &r.representative,
                    &r.filing_ref,
                    &r.acquisition,
                    &r.received_on.to_string(),
                    &json(&r.data_items),
                    &json(&r.record_counts),
                    &r.recorded_at,
                ])?;
            }
        }
        RecordsExport::Provision(rs) => {
            w.write_record([
                "id",
                "recipient",
                "provided_on",
                "request_ref",
                "approval_ref",
                "data_items",
                "record_counts",
                "policy",
                "package_digest",
                "recorded_at",
            ])?;
            for r in rs {
                w.write_record([
                    r.id.as_str(),
                    &r.recipient,
                    &r.provided_on.to_string(),
                    &r.request_ref,
                    &r.approval_ref,
                    &json(&r.data_items),
                    &json(&r.record_counts),
                    &r.policy,
                    &r.package_digest,
                    &r.recorded_at,
                ])?;
            }
        }
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))
}

mod erased {
    /// JSON text of a serialisable value, for a CSV cell.
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: RecordsCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let l = &store.ledger;
        let actor = ctx.actor_for("operator");
        match cmd {
            RecordsCmd::Export {
                kind,
                format,
                from,
                to,
                out,
            } => {
                let kind = RecordKind::parse(&kind)?;
                let from = from.as_deref().map(|d| date("--from", d)).transpose()?;
                let to = to.as_deref().map(|d| date("--to", d)).transpose()?;
                let export = l.export_records(kind, from, to).await?;
                let bytes = match format.as_str() {
                    "csv" => to_csv(&export)?,
                    "json" => {
                        let mut b = serde_json::to_vec_pretty(&export)?;
                        b.push(b'\n');
                        b
                    }
                    _ => return Err(fail(exit::INPUT, "--format must be csv or json")),
                };
                match out {
                    Some(path) => {
                        write_atomic(&path, &bytes, None)?;
                        let n = match &export {
                            RecordsExport::Reception(r) => r.len(),
                            RecordsExport::Provision(r) => r.len(),
                        };
                        ctx.emit(&serde_json::json!({ "records": n, "out": path }), || {
                            format!("{n} records written to {}", path.display())
                        });
                    }
                    None => {
                        use std::io::Write;
                        std::io::stdout().write_all(&bytes)?;
                    }
                }
            }
            RecordsCmd::AddReception {
                provider,
                acquisition,
                received_on,
                counts: c,
            } => {
                let record_counts = counts(&c)?;
                let id = l
                    .add_reception(
                        &actor,
                        NewReception {
                            provider: provider_id(&provider)?,
                            acquisition,
                            received_on: date("--received-on", &received_on)?,
                            data_items: record_counts.keys().cloned().collect(),
                            record_counts,
                        },
                    )
                    .await?;
                ctx.emit(&serde_json::json!({ "id": id }), || id.clone());
            }
            RecordsCmd::AddProvision {
                recipient,
                provided_on,
                request,
                approval,
                policy,
                digest,
                counts: c,
            } => {
                let record_counts = counts(&c)?;
                let id = l
                    .add_provision(
                        &actor,
                        NewProvision {
                            recipient,
                            provided_on: date("--provided-on", &provided_on)?,
                            request_ref: request,
                            approval_ref: approval,
                            data_items: record_counts.keys().cloned().collect(),
                            record_counts,
                            policy,
                            package_digest: digest,
                        },
                    )
                    .await?;
                ctx.emit(&serde_json::json!({ "id": id }), || id.clone());
            }
            RecordsCmd::Purge { kind, before } => {
                let n = l
                    .purge_records(
                        &actor,
                        RecordKind::parse(&kind)?,
                        date("--before", &before)?,
                    )
                    .await?;
                ctx.emit(&serde_json::json!({ "deleted": n }), || {
                    format!("{n} records deleted")
                });
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}
