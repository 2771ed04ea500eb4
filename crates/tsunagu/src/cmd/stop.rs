//! `tsunagu stop`: record stop requests and answer receipts.

use std::process::ExitCode;

use clap::Subcommand;
use tsunagu_ledger::{NewStop, Relationship, Requester, Via, parse_instant};
use tsunagu_model::LocalPatientId;

use crate::cmd::provider::provider_id;
use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Subcommands of `tsunagu stop`.
#[derive(Subcommand, Debug)]
pub enum StopCmd {
    /// Record a stop request (提供停止の求め); prints the receipt number for the requester.
    Add {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// The provider's local patient id.
        #[arg(long)]
        patient: String,
        /// person, bereaved or guardian.
        #[arg(long)]
        requester: String,
        /// For a bereaved requester: spouse, child, parent, grandchild, grandparent or sibling.
        #[arg(long)]
        relationship: Option<String>,
        /// When it was received (RFC 3339; default now).
        #[arg(long)]
        received_at: Option<String>,
        /// Where it was received: provider (default) or producer.
        #[arg(long, default_value = "provider")]
        via: String,
        /// Also erase the person's identity for good: destroy their data key in the vault
        /// (crypto-shredding), so neither the identity nor held data can ever be read again.
        #[arg(long)]
        erase: bool,
    },
    /// The state of the request with a receipt number.
    Status {
        /// Receipt number.
        receipt: String,
    },
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: StopCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let l = &store.ledger;
        match cmd {
            StopCmd::Add {
                provider,
                patient,
                requester,
                relationship,
                received_at,
                via,
                erase,
            } => {
                let s = NewStop {
                    provider: provider_id(&provider)?,
                    patient: LocalPatientId::parse(&patient)
                        .map_err(|e| fail(exit::INPUT, format!("--patient: {e}")))?,
                    requester: Requester::parse(&requester)?,
                    relationship: relationship
                        .as_deref()
                        .map(Relationship::parse)
                        .transpose()?,
                    received_at: match received_at {
                        Some(t) => parse_instant("--received-at", &t)?,
                        None => chrono::Utc::now(),
                    },
                    via: Via::parse(&via)?,
                };
                let (prov, local) = (s.provider.clone(), s.patient.clone());
                let receipt = l.add_stop(&ctx.actor_for("operator"), s).await?;
                if erase {
                    let vault = store.vault().await?;
                    let hash = tsunagu_vault::PatientHash::parse(&l.patient_hash(&prov, &local))?;
                    let (id, outcome) = vault.shred(&prov, &hash).await?;
                    l.record_event(
                        &ctx.actor_for("operator"),
                        "vault.shred",
                        "subject",
                        id.as_str(),
                        serde_json::json!({ "provider": prov.as_str(), "outcome": format!("{outcome:?}") }),
                    )
                    .await?;
                    vault.close().await;
                }
                ctx.emit(&serde_json::json!({ "receipt": receipt.as_str() }), || {
                    format!("受付番号 / receipt number: {receipt}")
                });
            }
            StopCmd::Status { receipt } => {
                let s = l.stop_status(&receipt).await?;
                ctx.emit(&serde_json::to_value(&s)?, || {
                    format!("{}\n{}", s.receipt, s.message)
                });
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}
