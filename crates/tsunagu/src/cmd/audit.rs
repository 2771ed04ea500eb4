//! `tsunagu audit`: verify and read the audit chain, and answer for one person (`audit person`).

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
    /// Every extract and release that included a person, beside their notice and stop-request
    /// history at every provider the linkage joins them with (for a complaint or an inspection).
    Person {
        /// The provider (`prv-…`).
        #[arg(long)]
        provider: String,
        /// The person's local patient id at that provider.
        #[arg(long)]
        patient: String,
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
            AuditCmd::Person { provider, patient } => {
                let report = person(ctx, &store, &provider, &patient).await;
                let report = match report {
                    Ok(r) => r,
                    Err(e) => {
                        store.close().await;
                        return Err(e);
                    }
                };
                ctx.emit(&serde_json::to_value(&report)?, || report.text());
                ExitCode::SUCCESS
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

/// One record (person-at-provider) of the person, with what the ledger holds of its notice and
/// stop requests.
#[derive(Debug, serde::Serialize)]
struct SubjectHistory {
    internal_id: String,
    provider: String,
    /// Whether this is the record the question named.
    asked: bool,
    notice: Option<chrono::NaiveDate>,
    stops: Vec<chrono::DateTime<chrono::Utc>>,
    /// The eligibility rule now, with its reason.
    now: String,
    shredded: bool,
}

/// The answer of `audit person`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PersonReport {
    /// The linked person (`per-…`) the record belongs to, if the linkage has seen it.
    person: Option<String>,
    /// The person's records at every provider.
    records: Vec<SubjectHistory>,
    /// Extracts and releases that included any of them, oldest first.
    inclusions: Vec<tsunagu_ledger::Inclusion>,
    /// Releases approved (provided) after the first stop request of any of the records: must
    /// be empty; the producer shows it to the inspector.
    pub(crate) provided_after_stop: Vec<String>,
}

impl PersonReport {
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "person: {}\n",
            self.person.as_deref().unwrap_or("(not linked yet)")
        ));
        out.push_str("records / 記録:\n");
        for r in &self.records {
            out.push_str(&format!(
                "  {}{} at {}: notice {} ; stop requests {} ; now: {}{}\n",
                r.internal_id,
                if r.asked { " (asked)" } else { "" },
                r.provider,
                r.notice
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "none".into()),
                if r.stops.is_empty() {
                    "none".to_owned()
                } else {
                    r.stops
                        .iter()
                        .map(|t| t.to_rfc3339())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                r.now,
                if r.shredded { " ; identity erased" } else { "" }
            ));
        }
        out.push_str("extracts and releases / 抽出と提供:\n");
        if self.inclusions.is_empty() {
            out.push_str("  none\n");
        }
        for i in &self.inclusions {
            out.push_str(&format!(
                "  extract {} at {} by {}",
                i.extract_id,
                i.extract_at.to_rfc3339(),
                i.extract_by
            ));
            if let (Some(r), Some(at)) = (&i.release_id, i.release_at) {
                out.push_str(&format!(" ; release {r} built {}", at.to_rfc3339()));
            }
            if let (Some(p), Some(at)) = (&i.provision_id, i.provided_at) {
                out.push_str(&format!(" ; provided {} ({p})", at.to_rfc3339()));
            }
            out.push('\n');
        }
        if self.provided_after_stop.is_empty() {
            out.push_str(
                "nothing was provided after a stop request / 提供停止の求め以後の提供はありません",
            );
        } else {
            out.push_str(&format!(
                "PROVIDED AFTER A STOP REQUEST / 提供停止後の提供あり: {}",
                self.provided_after_stop.join(", ")
            ));
        }
        out
    }
}

pub(crate) async fn person(
    ctx: &Ctx,
    store: &Store,
    provider: &str,
    patient: &str,
) -> anyhow::Result<PersonReport> {
    use crate::ctx::fail;
    let provider = tsunagu_model::ProviderId::parse(provider)
        .map_err(|e| fail(exit::INPUT, format!("--provider: {e}")))?;
    store.ledger.provider(&provider).await?;
    let patient = tsunagu_model::LocalPatientId::parse(patient)
        .map_err(|e| fail(exit::INPUT, format!("--patient: {e}")))?;
    let vault = store.vault().await?;
    let hash = tsunagu_vault::PatientHash::parse(&store.ledger.patient_hash(&provider, &patient))?;
    let asked = vault.internal_id(&provider, &hash);
    let subjects = vault.subjects().await?;
    vault.close().await;
    let persons = tsunagu_pipeline::linkage::load_state(&store.dir)?.persons();
    let person = persons.get(asked.as_str()).cloned();
    let mut ids: Vec<&str> = match &person {
        Some(p) => persons
            .iter()
            .filter(|(_, q)| *q == p)
            .map(|(s, _)| s.as_str())
            .collect(),
        None => vec![asked.as_str()],
    };
    if !ids.contains(&asked.as_str()) {
        ids.push(asked.as_str());
    }
    let now = chrono::Utc::now();
    let mut records = Vec::new();
    let mut first_stop: Option<chrono::DateTime<chrono::Utc>> = None;
    for s in subjects
        .iter()
        .filter(|s| ids.contains(&s.internal_id.as_str()))
    {
        let facts = store.ledger.provider_facts(&s.provider).await?;
        let f = facts.facts(s.patient_hash.as_str());
        let decision = facts.decide(s.patient_hash.as_str(), now);
        if let Some(t) = f.stops.iter().min() {
            first_stop = Some(first_stop.map_or(*t, |u| u.min(*t)));
        }
        records.push(SubjectHistory {
            internal_id: s.internal_id.as_str().to_owned(),
            provider: s.provider.as_str().to_owned(),
            asked: s.internal_id == asked,
            notice: f.notice,
            stops: f.stops.clone(),
            now: decision.explain(),
            shredded: s.shredded,
        });
    }
    let id_strings: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    let inclusions = store.ledger.inclusions(&id_strings).await?;
    let provided_after_stop = match first_stop {
        Some(stop) => inclusions
            .iter()
            .filter(|i| {
                i.provided_at.is_some_and(|p| p >= stop) || i.release_at.is_some_and(|r| r >= stop)
            })
            .filter_map(|i| i.release_id.clone())
            .collect(),
        None => Vec::new(),
    };
    // The lookup itself is a read of personal records: audited, with ids only.
    store
        .ledger
        .record_event(
            &ctx.actor_for("auditor"),
            "audit.person",
            "subject",
            asked.as_str(),
            serde_json::json!({ "records": records.len(), "inclusions": inclusions.len() }),
        )
        .await?;
    Ok(PersonReport {
        person,
        records,
        inclusions,
        provided_after_stop,
    })
}
