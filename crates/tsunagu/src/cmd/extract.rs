//! `tsunagu extract --cohort COHORT.sql --out EXTRACT_ID`: select a cohort and its events from
//! the lake with SQL (Apache DataFusion), behind the opt-out gate decided at this moment.
//!
//! The extract is written under `STORE/extracts/.ID.tmp` and renamed to `STORE/extracts/ID`
//! when complete; the ledger records it and its members afterwards. A run killed before the
//! rename leaves only the temporary directory, removed by the next run; one killed between the
//! rename and the ledger record leaves an unrecorded directory, which the next run with the same
//! id replaces (an extract that is not in the ledger was never usable: `release` refuses it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{SecondsFormat, Utc};
use clap::Args;
use sha2::{Digest, Sha256};
use tsunagu_ledger::NewExtract;
use tsunagu_pipeline::gate::{self, GateDecision};
use tsunagu_query::{Admitted, ExtractManifest, LakeQuery, valid_extract_id};

use crate::ctx::{Ctx, exit, fail};
use crate::store::{Store, write_atomic};

/// Options of `tsunagu extract`.
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// The cohort file: a SQL `SELECT … person_id …` choosing the persons, then optionally one
    /// statement per event table narrowing what is taken of it (README: "Extracts").
    #[arg(long)]
    pub cohort: PathBuf,
    /// The extract's id (lowercase letters, digits, `-`, `_`), its directory under `extracts/`.
    #[arg(long)]
    pub out: String,
}

/// Where an extract lives in the store.
pub fn extract_dir(store: &Path, id: &str) -> PathBuf {
    store.join("extracts").join(id)
}

/// What `extract` did.
#[derive(Debug, serde::Serialize)]
pub struct ExtractDone {
    /// The manifest written beside the tables.
    pub manifest: ExtractManifest,
    /// The extract's directory.
    pub dir: PathBuf,
    /// Persons-at-provider in the extract (ledger members).
    pub members: usize,
    /// Gate counts at this moment.
    pub gate: serde_json::Value,
}

/// Run it.
pub fn run(ctx: &Ctx, args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let done = ctx.block_on(async {
        let store = Store::open(ctx).await?;
        let done = extract(ctx, &store, &args.cohort, &args.out).await;
        store.close().await;
        done
    })??;
    let m = &done.manifest;
    ctx.emit(&serde_json::to_value(&done)?, || {
        let rows = m
            .rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "extract {} ({}): {} persons; {rows}\n  left out at this moment: {} persons who asked to stop{}\n  → {}",
            m.extract_id,
            m.as_of,
            m.persons,
            m.excluded_stopped,
            if m.linked {
                String::new()
            } else {
                "\n  note: some records were never linked (run `tsunagu link`); each stands alone as a person".to_owned()
            },
            done.dir.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

/// Build an extract in the store (used by the command and the demo).
pub async fn extract(
    ctx: &Ctx,
    store: &Store,
    cohort: &Path,
    id: &str,
) -> anyhow::Result<ExtractDone> {
    if !valid_extract_id(id) {
        return Err(fail(
            exit::INPUT,
            "--out: an extract id is 1 to 64 lowercase letters, digits, '-' or '_', not starting with '-' or '_'",
        ));
    }
    let sql = std::fs::read_to_string(cohort)
        .map_err(|e| fail(exit::INPUT, format!("{}: {e}", cohort.display())))?;
    if store.ledger.extract_exists(id).await? {
        return Err(fail(
            exit::CONFLICT,
            format!("extract {id} already exists; choose another id"),
        ));
    }
    let root = store.dir.join("extracts");
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let final_dir = extract_dir(&store.dir, id);
    let tmp = root.join(format!(".{id}.tmp"));
    for stale in [&tmp, &final_dir] {
        if stale.exists() {
            // Either an interrupted run's temporary directory or a directory the ledger never
            // recorded (see the module documentation): neither was ever an extract.
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("cannot remove the unfinished {}", stale.display()))?;
        }
    }

    let now = Utc::now();
    let vault = store.vault().await?;
    let decision: GateDecision = gate::decide_all(&store.ledger, &vault, &store.dir, now).await?;
    vault.close().await;
    let admitted: Vec<Admitted> = decision
        .admitted
        .iter()
        .map(|m| Admitted {
            subject: m.subject.clone(),
            person: m.person.clone(),
        })
        .collect();
    let lake = Arc::new(store.lake()?);
    let query = LakeQuery::new(lake, &admitted)
        .await
        .map_err(|e| query_fail(cohort, e))?;
    let out = tsunagu_lake::Lake::open(&tmp, &store.key)?;
    let summary = query
        .extract(&sql, &out)
        .await
        .map_err(|e| query_fail(cohort, e))?;

    let cohort_set: BTreeSet<&str> = summary.cohort.iter().map(String::as_str).collect();
    let members: Vec<(String, String)> = decision
        .admitted
        .iter()
        .filter(|m| cohort_set.contains(m.person.as_str()))
        .map(|m| (m.subject.clone(), m.person.clone()))
        .collect();
    let as_of = (now + chrono::TimeDelta::hours(9)).date_naive();
    let manifest = ExtractManifest {
        extract_id: id.to_owned(),
        created_at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        as_of: as_of.to_string(),
        cohort_sql: sql.clone(),
        cohort_sql_sha256: hex::encode(Sha256::digest(sql.as_bytes())),
        persons: summary.persons,
        rows: summary.rows.clone(),
        excluded_stopped: decision.stopped_persons.len() as u64,
        linked: decision.linked(),
    };
    write_atomic(
        &ExtractManifest::path(&tmp),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
        None,
    )?;
    std::fs::rename(&tmp, &final_dir)
        .with_context(|| format!("cannot move the extract into {}", final_dir.display()))?;
    let gate_counts = serde_json::json!({
        "admitted_subjects": decision.admitted.len(),
        "stopped_persons": decision.stopped_persons.len(),
        "stopped_subjects": decision.stopped_subjects,
        "ineligible_subjects": decision.ineligible_subjects,
        "unlinked_subjects": decision.unlinked_subjects,
    });
    store
        .ledger
        .add_extract(
            &ctx.actor_for("operator"),
            NewExtract {
                id: id.to_owned(),
                cohort_sha256: manifest.cohort_sql_sha256.clone(),
                as_of,
                counts: serde_json::json!({
                    "persons": manifest.persons,
                    "rows": manifest.rows,
                    "gate": gate_counts,
                }),
                members: members.clone(),
            },
        )
        .await?;
    Ok(ExtractDone {
        manifest,
        dir: final_dir,
        members: members.len(),
        gate: gate_counts,
    })
}

fn query_fail(cohort: &Path, e: tsunagu_query::QueryError) -> anyhow::Error {
    let code = match e {
        tsunagu_query::QueryError::Cohort { .. } => exit::INPUT,
        _ => exit::FAILURE,
    };
    fail(code, format!("{}: {e}", cohort.display()))
}
