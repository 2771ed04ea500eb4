//! `tsunagu provider`: register and inspect providers.

use std::process::ExitCode;

use clap::Subcommand;
use tsunagu_ledger::{ContractState, NewProvider, Provider, ProviderUpdate};
use tsunagu_model::{ProviderId, ProviderKind};

use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Subcommands of `tsunagu provider`.
#[derive(Subcommand, Debug)]
pub enum ProviderCmd {
    /// Register a provider; prints its new id.
    Add {
        /// hospital, clinic, pharmacy, care_facility, municipality, insurer or school_operator.
        #[arg(long)]
        kind: String,
        /// Name.
        #[arg(long)]
        name: String,
        /// Official code (医療機関コード, 保険者番号, 地方公共団体コード, …).
        #[arg(long)]
        code: String,
        /// Address.
        #[arg(long)]
        address: String,
        /// Representative (代表者).
        #[arg(long)]
        representative: String,
        /// Date of the 届出 (YYYY-MM-DD).
        #[arg(long)]
        filing_date: Option<String>,
        /// Reference of the 届出.
        #[arg(long)]
        filing_ref: Option<String>,
        /// Contract state: pending, active (default), suspended, terminated.
        #[arg(long)]
        contract: Option<String>,
    },
    /// List providers.
    List,
    /// Show one provider.
    Show {
        /// Provider id (prv-…).
        id: String,
    },
    /// Change a provider's details.
    Update {
        /// Provider id (prv-…).
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New address.
        #[arg(long)]
        address: Option<String>,
        /// New representative.
        #[arg(long)]
        representative: Option<String>,
        /// New 届出 date.
        #[arg(long)]
        filing_date: Option<String>,
        /// New 届出 reference.
        #[arg(long)]
        filing_ref: Option<String>,
        /// New contract state.
        #[arg(long)]
        contract: Option<String>,
    },
}

/// Parse a provider id given on the command line.
pub fn provider_id(s: &str) -> anyhow::Result<ProviderId> {
    ProviderId::parse(s).map_err(|e| fail(exit::INPUT, format!("--provider: {e}")))
}

fn line(p: &Provider) -> String {
    format!(
        "{}  {:<15} {:<10} {}  届出: {}  contract: {}",
        p.id,
        p.kind.as_str(),
        p.code,
        p.name,
        match (&p.filing_date, &p.filing_ref) {
            (Some(d), Some(r)) => format!("{d} {r}"),
            _ => "none".into(),
        },
        p.contract_state.as_str()
    )
}

/// Run it.
pub fn run(ctx: &Ctx, cmd: ProviderCmd) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let l = &store.ledger;
        let actor = ctx.actor_for("operator");
        match cmd {
            ProviderCmd::Add { kind, name, code, address, representative, filing_date, filing_ref, contract } => {
                let kind = ProviderKind::parse(&kind).map_err(|e| fail(exit::INPUT, format!("--kind: {e}")))?;
                let contract_state = contract.as_deref().map(ContractState::parse).transpose()?;
                let id = l
                    .add_provider(
                        &actor,
                        NewProvider { kind, code, name, address, representative, filing_date, filing_ref, contract_state },
                    )
                    .await?;
                ctx.emit(&serde_json::json!({ "id": id }), || id.to_string());
            }
            ProviderCmd::List => {
                let all = l.list_providers().await?;
                ctx.emit(&serde_json::to_value(&all)?, || {
                    all.iter().map(line).collect::<Vec<_>>().join("\n")
                });
            }
            ProviderCmd::Show { id } => {
                let p = l.provider(&provider_id(&id)?).await?;
                ctx.emit(&serde_json::to_value(&p)?, || {
                    format!(
                        "id              {}\nkind            {} ({})\ncode            {}\nname            {}\naddress         {}\nrepresentative  {}\n届出            {}\ncontract        {}\ncreated         {}\nupdated         {}",
                        p.id,
                        p.kind,
                        p.kind.japanese(),
                        p.code,
                        p.name,
                        p.address,
                        p.representative,
                        match (&p.filing_date, &p.filing_ref) {
                            (Some(d), Some(r)) => format!("{d} ({r})"),
                            _ => "not on record".into(),
                        },
                        p.contract_state.as_str(),
                        p.created_at,
                        p.updated_at
                    )
                });
            }
            ProviderCmd::Update { id, name, address, representative, filing_date, filing_ref, contract } => {
                let contract_state = contract.as_deref().map(ContractState::parse).transpose()?;
                let p = l
                    .update_provider(
                        &actor,
                        &provider_id(&id)?,
                        ProviderUpdate { name, address, representative, filing_date, filing_ref, contract_state },
                    )
                    .await?;
                ctx.emit(&serde_json::to_value(&p)?, || line(&p));
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}
