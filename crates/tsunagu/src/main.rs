//! `tsunagu`: the command-line interface (and, later, the server) of the platform.
//!
//! Every subcommand lives in its own module under `cmd/`. This file only parses the global
//! options, sets up logging and maps errors to exit codes.

mod cmd;
mod ctx;
mod measure;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ctx::{Ctx, GlobalArgs};

/// tsunagu (つなぐ): collect, link and safely provide medical information for research under
/// Japan's Next-Generation Medical Infrastructure Act (次世代医療基盤法).
#[derive(Parser)]
#[command(name = "tsunagu", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

// Keep one variant per line: several people add commands here at once.
#[derive(Subcommand)]
enum Command {
    /// Create the store (idempotent).
    Init(cmd::init::InitArgs),
    /// Show or change the store's rules (waiting period, retention, producer contact).
    #[command(subcommand)]
    Settings(cmd::settings::SettingsCmd),
    /// Run the whole mission end to end on a fresh store.
    Demo(cmd::demo::DemoArgs),
    /// Register and inspect providers (医療情報取扱事業者).
    #[command(subcommand)]
    Provider(cmd::provider::ProviderCmd),
    /// Record notices (通知) to persons.
    #[command(subcommand)]
    Notice(cmd::notice::NoticeCmd),
    /// Record and check stop requests (提供停止の求め).
    #[command(subcommand)]
    Stop(cmd::stop::StopCmd),
    /// May data of a person at a provider be provided at a time?
    Eligibility(cmd::eligibility::EligibilityArgs),
    /// Reception (受領記録) and provision (提供記録) records.
    #[command(subcommand)]
    Records(cmd::records::RecordsCmd),
    /// Audit chain: verify, list.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Take in a provider's data through the opt-out gate into the vault and the lake.
    Ingest(cmd::ingest::IngestArgs),
    /// Inputs that were not accepted: list, show.
    #[command(subcommand)]
    Quarantine(cmd::ingest::QuarantineCmd),
    /// Bulk import of ledger data (providers, notices, stop requests).
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCmd),
    /// Generate a synthetic Japanese population with records, ledger files and ground truth.
    Synth(cmd::synth::SynthArgs),
    /// Link identity files on keyed-hash tokens (名寄せ): two sources, or one deduplicated.
    Link(cmd::link::LinkArgs),
    /// Anonymize a CSV table: optimal generalization under k-anonymity, l-diversity, t-closeness.
    Anonymize(cmd::anonymize::AnonymizeArgs),
    /// Select a cohort and its events from the lake with SQL, behind the opt-out gate now.
    Extract(cmd::extract::ExtractArgs),
    /// Build a release package from an extract under a policy; `release approve ID` to approve.
    Release(cmd::release::ReleaseArgs),
    /// Re-identification risk of a CSV table (prosecutor, journalist, marketer, population uniqueness).
    Risk(cmd::risk::RiskArgs),
    /// Benchmarks on the shared data.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ctx::init_logging(&cli.global);
    let ctx = Ctx::new(cli.global);
    let result = match cli.command {
        Command::Init(a) => cmd::init::run(&ctx, a),
        Command::Settings(c) => cmd::settings::run(&ctx, c),
        Command::Demo(args) => cmd::demo::run(&ctx, args),
        Command::Provider(c) => cmd::provider::run(&ctx, c),
        Command::Notice(c) => cmd::notice::run(&ctx, c),
        Command::Stop(c) => cmd::stop::run(&ctx, c),
        Command::Eligibility(a) => cmd::eligibility::run(&ctx, a),
        Command::Records(c) => cmd::records::run(&ctx, c),
        Command::Audit(c) => cmd::audit::run(&ctx, c),
        Command::Ledger(c) => cmd::ledger::run(&ctx, c),
        Command::Ingest(a) => cmd::ingest::run(&ctx, a),
        Command::Quarantine(c) => cmd::ingest::run_quarantine(&ctx, c),
        Command::Synth(a) => cmd::synth::run(&ctx, a),
        Command::Link(a) => cmd::link::run(&ctx, a),
        Command::Anonymize(a) => cmd::anonymize::run(&ctx, a),
        Command::Risk(a) => cmd::risk::run(&ctx, a),
        Command::Extract(a) => cmd::extract::run(&ctx, a),
        Command::Release(a) => cmd::release::run(&ctx, a),
        Command::Bench(c) => cmd::bench::run(&ctx, c),
    };
    match result {
        Ok(code) => code,
        Err(err) => ctx.report_error(&err),
    }
}
