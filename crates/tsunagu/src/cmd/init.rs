//! `tsunagu init`: create the store (idempotent).

use std::process::ExitCode;

use clap::Args;

use crate::ctx::Ctx;
use crate::store::Store;

/// Options of `tsunagu init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Waiting period after a notice, in days (default 30).
    #[arg(long)]
    pub notice_wait_days: Option<u32>,
    /// Years records are kept, or `forever` (default 3).
    #[arg(long)]
    pub retention_years: Option<String>,
}

/// Create or re-open the store.
pub fn run(ctx: &Ctx, args: InitArgs) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let (store, created) = Store::init(ctx).await?;
        let actor = ctx.actor_for("operator");
        if let Some(d) = args.notice_wait_days {
            store.ledger.set_setting(&actor, "notice_wait_days", &d.to_string()).await?;
        }
        if let Some(y) = &args.retention_years {
            store.ledger.set_setting(&actor, "record_retention_years", y).await?;
        }
        let settings = store.ledger.settings().await?;
        let dir = store.dir.display().to_string();
        let backend = format!("{:?}", store.ledger.backend()).to_lowercase();
        store.close().await;
        ctx.emit(
            &serde_json::json!({ "store": dir, "created": created, "backend": backend, "settings": settings }),
            || {
                if created {
                    format!("created store {dir} ({backend} ledger)")
                } else {
                    format!("store {dir} already exists ({backend} ledger); nothing changed")
                }
            },
        );
        Ok(ExitCode::SUCCESS)
    })?
}
