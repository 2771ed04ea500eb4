//! What every command shares: global options, the store on disk, output in text or JSON,
//! logging, and the mapping from errors to exit codes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

/// Exit codes that mean something to scripts (documented in README.md).
pub mod exit {
    // 0: success (also for a negative eligibility decision: the question was answered).
    /// Unexpected failure (I/O, database unreachable, bug).
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// Bad input data: a CSV row, a date, a code, a file that cannot be parsed.
    pub const INPUT: u8 = 3;
    /// Something named does not exist (provider, extract, …).
    pub const NOT_FOUND: u8 = 4;
    /// The request conflicts with what is recorded (duplicate, retention, not a store, …).
    pub const CONFLICT: u8 = 5;
    /// A verification failed: audit chain broken, release gate failed.
    pub const VERIFY: u8 = 6;
}

/// Options accepted by every subcommand.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// The store directory [default: ./tsunagu-data; for `demo`, a new temporary directory].
    #[arg(long, global = true, env = "TSUNAGU_DATA")]
    pub data: Option<PathBuf>,
    /// Ledger database URL: `sqlite://PATH` or `postgres://…` (default: the SQLite file in the store).
    #[arg(long, global = true, env = "TSUNAGU_DATABASE")]
    pub database: Option<String>,
    /// Print machine-readable JSON on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who acts (recorded in the audit log).
    #[arg(long, global = true, env = "TSUNAGU_ACTOR")]
    pub actor: Option<String>,
    /// Log level filter (e.g. `info`, `debug`); logs go to standard error as JSON lines.
    #[arg(long, global = true, env = "TSUNAGU_LOG", default_value = "warn")]
    pub log: String,
}

/// Shared state of one invocation.
pub struct Ctx {
    pub global: GlobalArgs,
}

/// An error with an exit code chosen by the command that raised it.
#[derive(Debug)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Fail {}

/// Build an error carrying an exit code.
pub fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Fail {
        code,
        message: message.into(),
    })
}

/// Logs are JSON lines on standard error. They carry ids and counts, never personal data.
pub fn init_logging(global: &GlobalArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

impl Ctx {
    pub fn new(global: GlobalArgs) -> Self {
        Ctx { global }
    }

    /// The store directory.
    pub fn data_dir(&self) -> &Path {
        self.global
            .data
            .as_deref()
            .unwrap_or(Path::new("./tsunagu-data"))
    }

    /// Whether output should be JSON.
    pub fn json(&self) -> bool {
        self.global.json
    }

    /// Who acts, for the audit log.
    pub fn actor(&self) -> String {
        self.global
            .actor
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "operator".to_owned())
    }

    /// Run async work (the ledger is async) on a small runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> anyhow::Result<F::Output> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(rt.block_on(f))
    }

    /// Print a result: the JSON value with `--json`, else the text.
    pub fn emit(&self, json: &serde_json::Value, text: impl FnOnce() -> String) {
        use std::io::Write;
        let out = if self.json() {
            format!("{json}\n")
        } else {
            let t = text();
            if t.is_empty() { t } else { format!("{t}\n") }
        };
        // A closed pipe (`tsunagu … | head`) is not an error worth a panic.
        let _ = std::io::stdout().write_all(out.as_bytes());
    }

    /// Print an error to standard error (as JSON with `--json`) and choose the exit code.
    pub fn report_error(&self, err: &anyhow::Error) -> ExitCode {
        let code = exit_code_for(err);
        let message = format!("{err:#}");
        if self.json() {
            eprintln!(
                "{}",
                serde_json::json!({ "error": { "exit_code": code, "message": message } })
            );
        } else {
            eprintln!("error: {message}");
        }
        ExitCode::from(code)
    }
}

/// Walk the error chain for a typed error that says which exit code fits.
fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Fail>() {
            return f.code;
        }
        if let Some(e) = cause.downcast_ref::<tsunagu_ledger::Error>() {
            return ledger_exit_code(e);
        }
    }
    exit::FAILURE
}

fn ledger_exit_code(e: &tsunagu_ledger::Error) -> u8 {
    use tsunagu_ledger::ErrorKind as K;
    match e.kind() {
        K::Input => exit::INPUT,
        K::NotFound => exit::NOT_FOUND,
        K::Conflict => exit::CONFLICT,
        K::Verify => exit::VERIFY,
        K::Backend => exit::FAILURE,
    }
}
