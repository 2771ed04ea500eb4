//! `tsunagu settings`: the store's rules.

use std::process::ExitCode;

use clap::Subcommand;

use crate::ctx::Ctx;
use crate::store::Store;

/// Subcommands of `tsunagu settings`.
#[derive(Subcommand, Debug)]
pub enum SettingsCmd {
    /// Print the settings.
    Show,
    /// Change one setting: notice_wait_days, record_retention_years, producer_name,
    /// producer_portal, producer_desk.
    Set {
        /// Setting name.
        key: String,
        /// New value.
        value: String,
    },
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: SettingsCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let s = match cmd {
            SettingsCmd::Show => store.ledger.settings().await?,
            SettingsCmd::Set { key, value } => {
                store.ledger.set_setting(&ctx.actor_for("operator"), &key, &value).await?
            }
        };
        store.close().await;
        ctx.emit(&serde_json::to_value(&s)?, || {
            format!(
                "notice_wait_days       {}\nrecord_retention_years {}\nproducer_name          {}\nproducer_portal        {}\nproducer_desk          {}",
                s.notice_wait_days,
                s.record_retention_years.map(|y| y.to_string()).unwrap_or_else(|| "forever".into()),
                s.producer_name,
                s.producer_portal,
                s.producer_desk
            )
        });
        Ok(ExitCode::SUCCESS)
    })?
}
