//! `tsunagu eligibility`: the Act's rule for one person at one provider.

use std::process::ExitCode;

use clap::Args;
use tsunagu_ledger::parse_instant;
use tsunagu_model::LocalPatientId;

use crate::cmd::provider::provider_id;
use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Options of `tsunagu eligibility`.
#[derive(Args, Debug)]
pub struct EligibilityArgs {
    /// Provider id.
    #[arg(long)]
    pub provider: String,
    /// The provider's local patient id.
    #[arg(long)]
    pub patient: String,
    /// The time to decide for: RFC 3339, or a date (00:00 JST); default now.
    #[arg(long)]
    pub at: Option<String>,
}

/// Decide; exit 0 whether eligible or not (the question was answered).
pub fn run(ctx: &Ctx, a: EligibilityArgs) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let at = match &a.at {
            Some(t) => parse_instant("--at", t)?,
            None => chrono::Utc::now(),
        };
        let patient = LocalPatientId::parse(&a.patient)
            .map_err(|e| fail(exit::INPUT, format!("--patient: {e}")))?;
        let d = store
            .ledger
            .eligibility(&provider_id(&a.provider)?, &patient, at)
            .await?;
        store.close().await;
        let reason = d.explain();
        ctx.emit(
            &serde_json::json!({ "eligible": d.eligible, "reason": reason, "detail": d.reason }),
            || {
                format!(
                    "{}: {reason}",
                    if d.eligible {
                        "eligible"
                    } else {
                        "not eligible"
                    }
                )
            },
        );
        Ok(ExitCode::SUCCESS)
    })?
}
