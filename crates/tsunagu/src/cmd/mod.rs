//! One module per subcommand. Each exposes its clap arguments and a `run(&Ctx, args)` that
//! returns the process exit code.

pub mod anonymize;
pub mod audit;
pub mod bench;
pub mod bench_anonymize;
pub mod bench_ingest;
pub mod bench_link;
pub mod bench_synth;
pub mod demo;
pub mod demo_reconcile;
pub mod eligibility;
pub mod extract;
pub mod ingest;
pub mod init;
pub mod ledger;
pub mod link;
pub mod notice;
pub mod provider;
pub mod records;
pub mod release;
pub mod risk;
pub mod settings;
pub mod stop;
pub mod synth;
