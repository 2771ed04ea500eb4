//! `tsunagu audit`: verify and read the audit chain.

use std::process::ExitCode;

use clap::Subcommand;

use crate::ctx::{Ctx, exit};
use crate::store::Store;

/// Subcommands of `tsunagu audit`.
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Verify the chain end to end; exit 6 naming the first bad event if anything was altered.
    Verify,
    /// Print events.
    List {
        /// From this sequence number.
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: AuditCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let code = match cmd {
            AuditCmd::Verify => {
                let r = store.ledger.verify_audit().await?;
                ctx.emit(&serde_json::to_value(&r)?, || {
                    if r.ok {
                        format!("audit chain intact: {} events, head {}", r.events, r.head)
                    } else {
                        format!(
                            "AUDIT CHAIN BROKEN at event {}: {}",
                            r.first_bad_seq
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| "?".into()),
                            r.first_error.as_deref().unwrap_or("")
                        )
                    }
                });
                if r.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(exit::VERIFY)
                }
            }
            AuditCmd::List { from, limit } => {
                let evs = store.ledger.audit_events(from, limit).await?;
                ctx.emit(&serde_json::to_value(&evs)?, || {
                    evs.iter()
                        .map(|e| {
                            format!(
                                "{:>6} {} {}({}) {} {}:{} {}",
                                e.seq,
                                e.at,
                                e.actor,
                                e.role,
                                e.action,
                                e.object_type,
                                e.object_id,
                                e.details
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                });
                ExitCode::SUCCESS
            }
        };
        store.close().await;
        Ok(code)
    })?
}
