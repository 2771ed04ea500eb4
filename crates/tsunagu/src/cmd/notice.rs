//! `tsunagu notice`: record notices and render the notice document.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tsunagu_ledger::{NewNotice, NoticeFormat, Recipient, render_notice};

use crate::cmd::provider::provider_id;
use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Subcommands of `tsunagu notice`.
#[derive(Subcommand, Debug)]
pub enum NoticeCmd {
    /// Record that a person was notified.
    Add {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// The provider's local patient id (stored only as a keyed hash).
        #[arg(long)]
        patient: String,
        /// Date of the notice (YYYY-MM-DD).
        #[arg(long)]
        date: String,
        /// letter, in_person or poster_portal.
        #[arg(long)]
        channel: String,
        /// The notice went to a guardian (the person is a minor or lacks capacity).
        #[arg(long)]
        guardian: bool,
    },
    /// Record notices from a CSV file (`patient,date,channel[,recipient]`): all rows or none.
    Import {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// The CSV file.
        file: PathBuf,
    },
    /// Print the provider's notice document (Japanese, with an English summary).
    Template {
        /// Provider id.
        #[arg(long)]
        provider: String,
        /// html or text.
        #[arg(long, default_value = "text")]
        format: String,
        /// An operator's own template (placeholders {{provider_name}}, {{producer_name}},
        /// {{data_items}}, {{portal}}, {{desk}}, {{wait_days}}, {{provider_address}}, {{provider_kind}}).
        #[arg(long)]
        template: Option<PathBuf>,
    },
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: NoticeCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let l = &store.ledger;
        let actor = ctx.actor_for("operator");
        match cmd {
            NoticeCmd::Add {
                provider,
                patient,
                date,
                channel,
                guardian,
            } => {
                let recipient = if guardian {
                    Recipient::Guardian
                } else {
                    Recipient::Person
                };
                let n = NewNotice::parse(
                    provider_id(&provider)?,
                    &patient,
                    &date,
                    &channel,
                    recipient,
                )?;
                let id = l.add_notice(&actor, n).await?;
                ctx.emit(&serde_json::json!({ "id": id }), || id.clone());
            }
            NoticeCmd::Import { provider, file } => {
                let f = std::fs::File::open(&file).map_err(|e| {
                    fail(
                        exit::INPUT,
                        format!("{}: cannot be read: {e}", file.display()),
                    )
                })?;
                let name = file.display().to_string();
                let n = l
                    .import_notices(&actor, &provider_id(&provider)?, &name, f)
                    .await?;
                ctx.emit(&serde_json::json!({ "imported": n }), || {
                    format!("{n} notices recorded from {name}")
                });
            }
            NoticeCmd::Template {
                provider,
                format,
                template,
            } => {
                let format = match format.as_str() {
                    "html" => NoticeFormat::Html,
                    "text" => NoticeFormat::Text,
                    _ => return Err(fail(exit::INPUT, "--format must be html or text")),
                };
                let tpl = template
                    .as_ref()
                    .map(|p| {
                        std::fs::read_to_string(p)
                            .with_context(|| format!("{}: cannot be read", p.display()))
                    })
                    .transpose()?;
                let p = l.provider(&provider_id(&provider)?).await?;
                let settings = l.settings().await?;
                let doc = render_notice(&p, &settings, tpl.as_deref(), format)?;
                ctx.emit(&serde_json::json!({ "document": doc }), || doc.clone());
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}
