//! `tsunagu ledger import DIR`: providers, notices and stop requests from CSV, in one
//! transaction.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::ctx::Ctx;
use crate::store::Store;

/// Subcommands of `tsunagu ledger`.
#[derive(Subcommand, Debug)]
pub enum LedgerCmd {
    /// Import `providers.csv`, `notices.csv` and `stops.csv` from a directory (as `tsunagu
    /// synth` writes them): all or nothing.
    Import {
        /// The directory.
        dir: PathBuf,
    },
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: LedgerCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let LedgerCmd::Import { dir } = cmd;
        let s = store
            .ledger
            .import_ledger_dir(&ctx.actor_for("operator"), &dir)
            .await?;
        store.close().await;
        ctx.emit(&serde_json::to_value(&s)?, || {
            format!(
                "imported {} providers, {} notices, {} stop requests from {}",
                s.providers,
                s.notices,
                s.stops,
                dir.display()
            )
        });
        Ok(ExitCode::SUCCESS)
    })?
}
