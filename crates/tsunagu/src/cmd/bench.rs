//! `tsunagu bench`: measurements on the shared benchmark data. One variant per benchmark, each in its own file.

use std::process::ExitCode;

use clap::Subcommand;

use crate::ctx::Ctx;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// The anonymization engine on the ARX benchmark (adult, fars, mach2019, creditcard, adult × 10 M).
    Anonymize(crate::cmd::bench_anonymize::BenchAnonymizeArgs),
    /// The linker beside Splink 5 on FEBRL4 and a synthetic Japanese population.
    Link(crate::cmd::bench_link::BenchLinkArgs),
    /// Intake end to end (FHIR NDJSON MB/s, SS-MIX2 messages/s, peak memory).
    Ingest(crate::cmd::bench_ingest::BenchIngestArgs),
    /// The synthetic population generator (100,000 persons × 10 years by default).
    Synth(crate::cmd::bench_synth::BenchSynthArgs),
}

/// Run a benchmark.
pub fn run(ctx: &Ctx, cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Anonymize(a) => crate::cmd::bench_anonymize::run(ctx, a),
        BenchCmd::Link(a) => crate::cmd::bench_link::run(ctx, a),
        BenchCmd::Synth(a) => crate::cmd::bench_synth::run(ctx, a),
        BenchCmd::Ingest(a) => crate::cmd::bench_ingest::run(ctx, a),
    }
}
