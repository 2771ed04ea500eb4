//! `tsunagu release --extract ID --policy POLICY --out DIR`: build a package from an extract
//! under a policy, re-checking the opt-out gate at this moment; `tsunagu release approve ID`:
//! a second person verifies the package on disk and approves it, which writes the provision
//! record (提供記録).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};
use tsunagu_ledger::NewRelease;
use tsunagu_pipeline::gate;
use tsunagu_query::ExtractManifest;
use tsunagu_release::{Outcome, Policy, ReleaseInput};

use crate::cmd::extract::extract_dir;
use crate::ctx::{Ctx, exit, fail};
use crate::store::Store;

/// Options of `tsunagu release`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    pub cmd: Option<ReleaseCmd>,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// Building a release.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The extract to release (`tsunagu extract --out ID`).
    #[arg(long)]
    pub extract: Option<String>,
    /// A preset (`anonymized-jp`, `pseudonymized-jp`) or a policy TOML file.
    #[arg(long)]
    pub policy: Option<String>,
    /// The package directory to create (must not exist or be empty).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Who receives it (recorded in the provision record).
    #[arg(long, default_value = "(recipient not given)")]
    pub recipient: String,
    /// The researcher's request it answers (recorded in the provision record).
    #[arg(long, default_value = "(request not given)")]
    pub request: String,
    /// Seed of the pseudonym key, date shifts and the attack test, to reproduce a package.
    /// Without it, fresh randomness.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `tsunagu release approve`.
#[derive(Subcommand, Debug)]
pub enum ReleaseCmd {
    /// Verify a built package against its recorded digest and approve it (not its builder).
    Approve {
        /// The release id (`rel-…`).
        id: String,
        /// The package directory [default: where it was built].
        #[arg(long)]
        package: Option<PathBuf>,
    },
}

/// Load a policy: a preset name or a TOML file.
pub fn load_policy(spec: &str) -> anyhow::Result<Policy> {
    let path = Path::new(spec);
    let policy = if path.extension().is_some_and(|e| e == "toml") || path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(exit::INPUT, format!("{}: {e}", path.display())))?;
        Policy::parse_named(&path.display().to_string(), &text)
    } else {
        Policy::preset(spec)
    };
    policy.map_err(|e| fail(exit::INPUT, e.to_string()))
}

/// What a build did (for the command and the demo).
#[derive(Debug, serde::Serialize)]
pub struct Built {
    /// The release id.
    pub id: String,
    /// The package.
    pub dir: PathBuf,
    /// Its digest (SHA-256 of the manifest).
    pub digest: String,
    /// Whether all five measures and the attack test passed.
    pub passed: bool,
    /// Persons of the extract left out because of the gate at this moment.
    pub excluded_now: usize,
    /// The report's verdicts.
    pub measures: Vec<tsunagu_release::MeasureVerdict>,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
    /// Persons released.
    pub persons: u64,
}

/// Who a release is for, and how to reproduce it.
#[derive(Debug, Clone)]
pub struct Destination<'a> {
    /// The recipient (provision record).
    pub recipient: &'a str,
    /// The request it answers (provision record).
    pub request: &'a str,
    /// Seed of pseudonyms, shifts and the attack test.
    pub seed: Option<u64>,
}

/// Build a release in the store.
pub async fn build(
    ctx: &Ctx,
    store: &Store,
    extract: &str,
    policy: &Policy,
    out: &Path,
    to: &Destination<'_>,
) -> anyhow::Result<Built> {
    if !store.ledger.extract_exists(extract).await? {
        return Err(fail(
            exit::NOT_FOUND,
            format!("no extract {extract} in the ledger (run `tsunagu extract` first)"),
        ));
    }
    let dir = extract_dir(&store.dir, extract);
    let manifest = ExtractManifest::read(&dir).map_err(|e| fail(exit::NOT_FOUND, e.to_string()))?;
    let as_of = chrono::NaiveDate::parse_from_str(&manifest.as_of, "%Y-%m-%d").map_err(|_| {
        fail(
            exit::CONFLICT,
            format!("{}: as_of is not a date", dir.display()),
        )
    })?;
    // The gate again, now: whoever asked to stop since the extract was built is left out.
    let now = Utc::now();
    let vault = store.vault().await?;
    let decision = gate::decide_all(&store.ledger, &vault, &store.dir, now).await?;
    vault.close().await;
    let members = store.ledger.extract_members(extract).await?;
    let exclude: BTreeSet<String> = gate::excluded_now(&members, &decision);
    let lake = tsunagu_lake::Lake::open(&dir, &store.key)?;
    let id = store.ledger.new_release_id()?;
    let input = ReleaseInput {
        extract: &lake,
        extract_id: extract.to_owned(),
        release_id: id.clone(),
        as_of,
        exclude: &exclude,
        seed: to.seed,
        created_at: now,
    };
    let outcome: Outcome = tsunagu_release::build(&input, policy, out)
        .map_err(|e| fail(exit::INPUT, e.to_string()))?;
    let report = &outcome.report;
    let data_items: Vec<String> = report
        .transformations
        .iter()
        .filter(|t| t.action != "drop")
        .map(|t| format!("{}.{}", t.table, t.column))
        .collect();
    store
        .ledger
        .add_release(
            &ctx.actor_for("builder"),
            NewRelease {
                id: id.clone(),
                extract_id: extract.to_owned(),
                policy: report.policy.clone(),
                recipient: to.recipient.to_owned(),
                request_ref: to.request.to_owned(),
                package_digest: outcome.digest.clone(),
                passed: outcome.passed,
                summary: serde_json::json!({
                    "package": out,
                    "mode": report.mode,
                    "persons": report.persons,
                    "rows": report.rows,
                    "excluded_at_release": exclude.len(),
                    "measures": report.measures.iter().map(|m| serde_json::json!({"measure": m.measure, "verdict": m.verdict})).collect::<Vec<_>>(),
                    "data_items": data_items,
                }),
                members: outcome.persons_included.clone(),
            },
        )
        .await?;
    Ok(Built {
        id,
        dir: out.to_path_buf(),
        digest: outcome.digest.clone(),
        passed: outcome.passed,
        excluded_now: exclude.len(),
        measures: report.measures.clone(),
        rows: report.rows.clone(),
        persons: report.persons,
    })
}

/// Approve a release (a different actor from its builder).
pub async fn approve(
    ctx: &Ctx,
    store: &Store,
    id: &str,
    package: Option<&Path>,
) -> anyhow::Result<(String, String)> {
    let r = store.ledger.release(id).await?;
    let dir = match package {
        Some(p) => p.to_path_buf(),
        None => r
            .summary
            .get("package")
            .and_then(|v| v.as_str())
            .map(PathBuf::from)
            .ok_or_else(|| {
                fail(
                    exit::INPUT,
                    "the release does not record its package directory: pass --package",
                )
            })?,
    };
    let digest =
        tsunagu_release::verify_package(&dir).map_err(|e| fail(exit::VERIFY, e.to_string()))?;
    let counts: BTreeMap<String, u64> = r
        .summary
        .get("rows")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let items: Vec<String> = r
        .summary
        .get("data_items")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let today = (Utc::now() + chrono::TimeDelta::hours(9)).date_naive();
    let provision = store
        .ledger
        .approve_release(
            &ctx.actor_for("reviewer"),
            id,
            &digest,
            today,
            counts,
            items,
        )
        .await?;
    Ok((provision, digest))
}

/// Run it.
pub fn run(ctx: &Ctx, args: ReleaseArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Some(ReleaseCmd::Approve { id, package }) => {
            let (provision, digest) = ctx.block_on(async {
                let store = Store::open(ctx).await?;
                let r = approve(ctx, &store, &id, package.as_deref()).await;
                store.close().await;
                r
            })??;
            ctx.emit(
                &serde_json::json!({ "release": id, "provision_record": provision, "digest": digest }),
                || format!("release {id} approved; provision record {provision} (package sha256 {digest})"),
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let b = args.build;
            let (Some(extract), Some(policy), Some(out)) = (b.extract, b.policy, b.out) else {
                return Err(fail(
                    exit::USAGE,
                    "release needs --extract ID --policy POLICY --out DIR (or `release approve ID`)",
                ));
            };
            let policy = load_policy(&policy)?;
            let built = ctx.block_on(async {
                let store = Store::open(ctx).await?;
                let r = build(
                    ctx,
                    &store,
                    &extract,
                    &policy,
                    &out,
                    &Destination {
                        recipient: &b.recipient,
                        request: &b.request,
                        seed: b.seed,
                    },
                )
                .await;
                store.close().await;
                r
            })??;
            ctx.emit(&serde_json::to_value(&built)?, || built_text(&built));
            Ok(if built.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(exit::VERIFY)
            })
        }
    }
}

/// The summary of a build for people.
pub fn built_text(b: &Built) -> String {
    let mut s = format!(
        "release {} → {}\n  {} persons ({} left out by the gate now); {}\n",
        b.id,
        b.dir.display(),
        b.persons,
        b.excluded_now,
        b.rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for m in &b.measures {
        s.push_str(&format!(
            "  measure {} {} / {}: {}\n",
            m.measure,
            m.title_ja,
            m.title_en,
            match m.verdict {
                tsunagu_release::Verdict::Pass => "pass 適合",
                tsunagu_release::Verdict::Fail => "FAIL 不適合",
            }
        ));
    }
    s.push_str(&format!(
        "  package sha256 {}\n  {}",
        b.digest,
        if b.passed {
            "gate passed: another person may now run `tsunagu release approve` / 承認待ち"
        } else {
            "GATE FAILED: the package cannot be approved; read risk-report.html / 不適合のため承認できません"
        }
    ));
    s
}
