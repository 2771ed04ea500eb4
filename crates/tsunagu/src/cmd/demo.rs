//! `tsunagu demo`: the whole mission end to end on the embedded defaults (SQLite + local
//! files, no server). Every capability joins the demo when it lands.
//!
//! Layout under the demo directory (`--data DIR`, or a new temporary directory that is kept and
//! printed): `synth/` (the generator's output with its truth), `store/` (the tsunagu store:
//! ledger, vault, lake, extracts), `records/` (exported records), `cohort.sql` (the extract's
//! cohort) and `release/` (the final package).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use clap::Args;
use tsunagu_ledger::{
    Actor, Channel, Ledger, NewNotice, NewProvider, NewProvision, NewReception, NewStop, Recipient,
    RecordKind, Relationship, Requester, Via,
};
use tsunagu_model::{LocalPatientId, ProviderId, ProviderKind};

use crate::cmd::demo_reconcile;
use crate::ctx::{Ctx, GlobalArgs, exit, fail};
use crate::store::{Store, write_atomic};

/// Options of `tsunagu demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Persons in the synthetic population.
    #[arg(long, default_value_t = 1000)]
    pub persons: u64,
    /// Seed of the synthetic population.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn section(ctx: &Ctx, title: &str) {
    if !ctx.json() {
        println!("\n== {title}");
    }
}

fn say(ctx: &Ctx, line: impl AsRef<str>) {
    if !ctx.json() {
        println!("   {}", line.as_ref());
    }
}

pub(crate) fn pid(s: &str) -> anyhow::Result<LocalPatientId> {
    LocalPatientId::parse(s).map_err(|e| fail(exit::INPUT, e.to_string()))
}

/// The demo's root directory: `--data DIR`, or a fresh temporary one.
fn root(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    match &ctx.global.data {
        Some(d) => {
            if d.join("store").exists() {
                return Err(fail(
                    exit::CONFLICT,
                    format!(
                        "{} already holds a demo; choose an empty directory",
                        d.display()
                    ),
                ));
            }
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            Ok(d.clone())
        }
        None => {
            let t = tempfile::Builder::new().prefix("tsunagu-demo-").tempdir()?;
            Ok(t.keep())
        }
    }
}

/// Run the demo.
pub fn run(ctx: &Ctx, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let root = root(ctx)?;
    let store_ctx = Ctx::new(GlobalArgs {
        data: Some(root.join("store")),
        ..ctx.global.clone()
    });
    let ledger = ctx.block_on(ledger_tour(ctx, &store_ctx, &root))??;
    let population = ctx.block_on(population_tour(ctx, &store_ctx, &root, &args))??;
    let summary = serde_json::json!({ "root": root, "ledger": ledger, "population": population });
    ctx.emit(&summary, || {
        format!("\ndemo complete: everything is under {}", root.display())
    });
    Ok(ExitCode::SUCCESS)
}

/// Part 1 (the Act's ledger): one provider of each kind, notices, stop requests, the
/// eligibility rule at work, records, and the audit chain.
async fn ledger_tour(ctx: &Ctx, store_ctx: &Ctx, root: &Path) -> anyhow::Result<serde_json::Value> {
    let (store, _) = Store::init(store_ctx).await?;
    let l = &store.ledger;
    let op = ctx.actor_for("operator");
    section(ctx, &format!("store: {}", store.dir.display()));
    l.set_setting(
        &op,
        "producer_name",
        "一般財団法人つなぐ医療情報機構（デモ）",
    )
    .await?;
    l.set_setting(&op, "producer_portal", "https://tsunagu.example.jp/stop")
        .await?;
    l.set_setting(
        &op,
        "producer_desk",
        "〒100-0001 東京都千代田区千代田1-1 つなぐ窓口 03-0000-0000",
    )
    .await?;
    let wait = l.settings().await?.notice_wait_days;
    say(ctx, format!("waiting period after a notice: {wait} days"));

    section(ctx, "providers (医療情報取扱事業者), one of each kind");
    let filing = (Utc::now() - TimeDelta::days(400)).date_naive().to_string();
    let kinds: [(ProviderKind, &str, &str); 7] = [
        (ProviderKind::Hospital, "1310001", "つなぐ総合病院"),
        (ProviderKind::Clinic, "1320002", "みなと内科クリニック"),
        (ProviderKind::Pharmacy, "1340003", "さくら薬局"),
        (
            ProviderKind::CareFacility,
            "1370000004",
            "ひだまり介護センター",
        ),
        (ProviderKind::Municipality, "131016", "千代田区"),
        (ProviderKind::Insurer, "06130005", "つなぐ健康保険組合"),
        (
            ProviderKind::SchoolOperator,
            "13000006",
            "学校法人つなぐ学園",
        ),
    ];
    let mut ids: BTreeMap<ProviderKind, ProviderId> = BTreeMap::new();
    for (kind, code, name) in kinds {
        let id = l
            .add_provider(
                &op,
                NewProvider {
                    kind,
                    code: code.into(),
                    name: name.into(),
                    address: "東京都千代田区千代田1-1".into(),
                    representative: "代表者 つなぐ太郎".into(),
                    filing_date: Some(filing.clone()),
                    filing_ref: Some(format!("届出-{code}")),
                    contract_state: None,
                },
            )
            .await?;
        say(ctx, format!("{id}  {:<15} {name}", kind.as_str()));
        ids.insert(kind, id);
    }
    let unfiled = l
        .add_provider(
            &op,
            NewProvider {
                kind: ProviderKind::Clinic,
                code: "1320099".into(),
                name: "未届出クリニック".into(),
                address: "東京都港区芝公園4-2".into(),
                representative: "院長 未届出".into(),
                filing_date: None,
                filing_ref: None,
                contract_state: None,
            },
        )
        .await?;
    say(
        ctx,
        format!("{unfiled}  clinic          未届出クリニック (no 届出 on record yet)"),
    );

    section(ctx, "notices (通知) and stop requests (提供停止の求め)");
    let hosp = ids
        .get(&ProviderKind::Hospital)
        .cloned()
        .context("hospital")?;
    let today = Utc::now().date_naive();
    let notice = |p: &ProviderId,
                  patient: &str,
                  days_ago: i64,
                  ch: Channel,
                  r: Recipient|
     -> anyhow::Result<NewNotice> {
        Ok(NewNotice {
            provider: p.clone(),
            patient: pid(patient)?,
            date: today - TimeDelta::days(days_ago),
            channel: ch,
            recipient: r,
        })
    };
    l.add_notice(
        &op,
        notice(&hosp, "H-0001", 120, Channel::Letter, Recipient::Person)?,
    )
    .await?;
    l.add_notice(
        &op,
        notice(&hosp, "H-0002", 5, Channel::InPerson, Recipient::Person)?,
    )
    .await?;
    l.add_notice(
        &op,
        notice(
            &hosp,
            "H-0003",
            200,
            Channel::PosterPortal,
            Recipient::Person,
        )?,
    )
    .await?;
    l.add_notice(
        &op,
        notice(&hosp, "H-0004", 90, Channel::Letter, Recipient::Guardian)?,
    )
    .await?;
    l.add_notice(
        &op,
        notice(&unfiled, "C-0001", 120, Channel::Letter, Recipient::Person)?,
    )
    .await?;
    say(
        ctx,
        "5 notices recorded (one to a guardian of a minor); patient ids are stored only as keyed hashes",
    );
    let stop =
        |patient: &str, requester, relationship, hours_ago: i64| -> anyhow::Result<NewStop> {
            Ok(NewStop {
                provider: hosp.clone(),
                patient: pid(patient)?,
                requester,
                relationship,
                received_at: Utc::now() - TimeDelta::hours(hours_ago),
                via: Via::Producer,
            })
        };
    let r1 = l
        .add_stop(&op, stop("H-0003", Requester::Person, None, 24 * 30)?)
        .await?;
    let r2 = l
        .add_stop(
            &op,
            stop("H-0005", Requester::Bereaved, Some(Relationship::Spouse), 2)?,
        )
        .await?;
    let r3 = l
        .add_stop(&op, stop("H-0004", Requester::Guardian, None, 1)?)
        .await?;
    say(ctx, format!("stop by the person        → receipt {r1}"));
    say(ctx, format!("stop by a bereaved spouse → receipt {r2}"));
    say(ctx, format!("stop by a guardian        → receipt {r3}"));

    section(ctx, "eligibility: may the data be provided now?");
    let now = Utc::now();
    let cases = [
        (&hosp, "H-0001", "notified 120 days ago"),
        (&hosp, "H-0002", "notified 5 days ago"),
        (&hosp, "H-0003", "notified, then asked to stop"),
        (
            &hosp,
            "H-0004",
            "guardian notified, then guardian asked to stop",
        ),
        (&hosp, "H-0009", "never notified"),
        (&unfiled, "C-0001", "provider without a 届出"),
    ];
    let mut decisions = Vec::new();
    for (p, patient, what) in cases {
        let d = l.eligibility(p, &pid(patient)?, now).await?;
        say(
            ctx,
            format!(
                "{:<48} {:<5} {}",
                what,
                if d.eligible { "YES" } else { "no" },
                d.explain()
            ),
        );
        decisions
            .push(serde_json::json!({ "case": what, "eligible": d.eligible, "reason": d.reason }));
    }
    let before = l
        .eligibility(&hosp, &pid("H-0003")?, now - TimeDelta::days(60))
        .await?;
    say(
        ctx,
        format!(
            "{:<48} {:<5} {}",
            "…the same person 60 days ago",
            if before.eligible { "YES" } else { "no" },
            before.explain()
        ),
    );

    section(
        ctx,
        "stop request status by receipt (same answer shape for unknown numbers)",
    );
    let s = l.stop_status(r1.as_str()).await?;
    say(ctx, format!("{} → {}", s.receipt, s.message));
    let mut typo: Vec<char> = r1.as_str().chars().collect();
    typo[1] = if typo[1] == 'X' { 'Y' } else { 'X' };
    let s = l.stop_status(&typo.iter().collect::<String>()).await?;
    say(ctx, format!("{} → {}", s.receipt, s.message));

    section(ctx, "records (受領記録 / 提供記録)");
    let rec = l
        .add_reception(
            &op,
            NewReception {
                provider: hosp.clone(),
                acquisition: "診療の過程で取得".into(),
                received_on: today,
                data_items: vec!["patients".into(), "conditions".into()],
                record_counts: BTreeMap::from([("patients".into(), 2), ("conditions".into(), 7)]),
            },
        )
        .await?;
    let prov = l
        .add_provision(
            &op,
            NewProvision {
                recipient: "つなぐ大学 医学研究科".into(),
                provided_on: today,
                request_ref: "REQ-DEMO-1".into(),
                approval_ref: "委員会承認-DEMO-1".into(),
                data_items: vec!["persons".into()],
                record_counts: BTreeMap::from([("persons".into(), 1)]),
                policy: "anonymized-jp".into(),
                package_digest: "0".repeat(64),
            },
        )
        .await?;
    say(
        ctx,
        format!("reception record {rec}, provision record {prov}"),
    );
    let dir = root.join("records");
    std::fs::create_dir_all(&dir)?;
    for kind in [RecordKind::Reception, RecordKind::Provision] {
        let export = l.export_records(kind, None, None).await?;
        let name = match kind {
            RecordKind::Reception => "reception.json",
            RecordKind::Provision => "provision.json",
        };
        write_atomic(&dir.join(name), &serde_json::to_vec_pretty(&export)?, None)?;
        say(ctx, format!("exported {}", dir.join(name).display()));
    }
    let refused = l.purge_records(&op, RecordKind::Reception, today).await;
    say(
        ctx,
        format!(
            "deleting today's records: {}",
            match refused {
                Ok(_) => "allowed (unexpected)".to_owned(),
                Err(e) => format!("refused — {e}"),
            }
        ),
    );

    section(ctx, "audit chain");
    let v = verify(l, &op).await?;
    say(ctx, format!("{} events, chain intact: {}", v.events, v.ok));
    if !v.ok {
        return Err(fail(exit::VERIFY, "the audit chain does not verify"));
    }
    store.close().await;
    Ok(serde_json::json!({
        "root": root,
        "eligibility": decisions,
        "audit": v,
    }))
}

/// Part 2 (the synthetic population): generate it, load its ledger files into the store, and
/// check the opt-out gate against the generator's ground truth.
async fn population_tour(
    ctx: &Ctx,
    store_ctx: &Ctx,
    root: &Path,
    args: &DemoArgs,
) -> anyhow::Result<serde_json::Value> {
    section(
        ctx,
        &format!(
            "synthetic population: {} persons, seed {}",
            args.persons, args.seed
        ),
    );
    let out = root.join("synth");
    let cfg = tsunagu_synth::Config::new(args.persons, args.seed);
    cfg.validate()?;
    let s = tsunagu_synth::generate(&cfg, &out, &mut |_, _| {})?;
    say(
        ctx,
        format!(
            "{} persons, {} providers, {} patient records, {} clinical records, {} notices, {} stop requests → {}",
            s.persons,
            s.providers,
            s.patient_records,
            s.records,
            s.notices,
            s.stops,
            out.display()
        ),
    );

    let store = Store::open(store_ctx).await?;
    let l = &store.ledger;
    let op = ctx.actor_for("operator");
    let imported = l.import_ledger_dir(&op, &out.join("ledger")).await?;
    say(
        ctx,
        format!(
            "ledger import (one transaction): {} providers, {} notices, {} stop requests",
            imported.providers, imported.notices, imported.stops
        ),
    );

    // Every local record of the truth, decided now; everyone who asked to stop must be refused.
    let mut stopped_truth = std::collections::HashSet::new();
    let mut rdr = csv::Reader::from_path(out.join("truth/stops.csv"))?;
    for rec in rdr.records() {
        let rec = rec?;
        stopped_truth.insert((
            rec.get(1).unwrap_or("").to_owned(),
            rec.get(2).unwrap_or("").to_owned(),
        ));
    }
    let mut by_code: BTreeMap<String, (ProviderId, tsunagu_ledger::ProviderFacts)> =
        BTreeMap::new();
    for p in l.list_providers().await? {
        let facts = l.provider_facts(&p.id).await?;
        by_code.insert(p.code.to_string(), (p.id, facts));
    }
    let (mut eligible, mut waiting, mut stopped, mut other, mut leaks) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut rdr = csv::Reader::from_path(out.join("truth/records.csv"))?;
    // Decide as of the end of the synthetic period, when its most recent notices are still in
    // their waiting period.
    let now =
        tsunagu_ledger::start_of_day_jst(cfg.end + TimeDelta::days(1)) - TimeDelta::seconds(1);
    for rec in rdr.records() {
        let rec = rec?;
        let (code, patient) = (rec.get(0).unwrap_or(""), rec.get(1).unwrap_or(""));
        let Some((provider, facts)) = by_code.get(code) else {
            continue;
        };
        let d = facts.decide(&l.patient_hash(provider, &pid(patient)?), now);
        match d.reason {
            tsunagu_ledger::Reason::Eligible { .. } => eligible += 1,
            tsunagu_ledger::Reason::Waiting { .. } => waiting += 1,
            tsunagu_ledger::Reason::Stopped { .. } => stopped += 1,
            _ => other += 1,
        }
        if d.eligible && stopped_truth.contains(&(code.to_owned(), patient.to_owned())) {
            leaks += 1;
        }
    }
    say(
        ctx,
        format!(
            "opt-out gate at the end of the period: {eligible} eligible, {waiting} still in the waiting period, {stopped} stopped, {other} without notice"
        ),
    );
    say(
        ctx,
        format!(
            "people who asked to stop (truth): {}, of them eligible: {leaks}",
            stopped_truth.len()
        ),
    );
    if leaks > 0 {
        return Err(fail(
            exit::VERIFY,
            "a person who asked to stop was found eligible",
        ));
    }
    let intake = intake_tour(ctx, &store, &out, now).await?;
    let release = release_tour(ctx, &store, root, &out, args.seed).await?;
    let v = l.verify_audit().await?;
    say(
        ctx,
        format!("audit chain: {} events, intact: {}", v.events, v.ok),
    );
    store.close().await;
    Ok(serde_json::json!({
        "synth": s,
        "gate": { "eligible": eligible, "waiting": waiting, "stopped": stopped, "no_notice": other, "stopped_but_eligible": leaks },
        "intake": intake,
        "release": release,
        "audit_ok": v.ok,
    }))
}

/// Part 3 (intake): every provider sends what it holds — SS-MIX2 trees from hospitals and
/// clinics, FHIR R4 Bundles from the others, and CSV identity extracts from pharmacies — through
/// the opt-out gate into the vault and the lake. Decided as of the end of the synthetic period.
async fn intake_tour(
    ctx: &Ctx,
    store: &Store,
    synth: &Path,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    use tsunagu_pipeline::intake::IntakeOptions;
    section(
        ctx,
        "intake (SS-MIX2, FHIR R4, CSV) through the opt-out gate into the vault and the lake",
    );
    let stores = store.data_stores().await?;
    let intake = store.intake(&stores, ctx.actor_for("operator"));
    let (vault, lake) = (&stores.vault, &stores.lake);
    // CSV extracts: the generator writes one file per record kind for everyone; each provider
    // sends only its own rows. Pharmacies send their identity extracts this way, insurers their
    // claims (レセプト) and care facilities their care-service months — content that exists only
    // in the CSV layout.
    let split = synth.join("csv-by-provider");
    let split_files = split_by_provider(&synth.join("csv"), &split)?;
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    let mut per_format: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sent: Vec<demo_reconcile::Sent> = Vec::new();
    for p in store.ledger.list_providers().await? {
        let code = p.code.to_string();
        let tree = synth.join("ssmix2").join(&code);
        let bundles = synth.join("fhir/bundles").join(&code);
        let mut inputs: Vec<(&str, PathBuf)> = Vec::new();
        let mut carries: std::collections::BTreeSet<&'static str> = Default::default();
        if tree.is_dir() {
            inputs.push(("ssmix2", tree));
            carries.extend(demo_reconcile::carried_by("ssmix2"));
        } else if bundles.is_dir() {
            inputs.push(("fhir", bundles));
            carries.extend(demo_reconcile::carried_by("fhir"));
        }
        let mine = split.join(&code);
        if p.kind == ProviderKind::Pharmacy && split_files.contains(&(code.clone(), "identities")) {
            inputs.push(("csv", mine.join("identities.csv")));
        }
        for kind in ["claims", "care"] {
            if split_files.contains(&(code.clone(), kind)) {
                inputs.push(("csv", mine.join(format!("{kind}.csv"))));
                carries.extend(demo_reconcile::carried_by(&format!("csv-{kind}")));
            }
        }
        if !inputs.is_empty() {
            sent.push(demo_reconcile::Sent {
                id: p.id.clone(),
                code: code.clone(),
                carries,
            });
        }
        for (format, path) in inputs {
            let opts = IntakeOptions {
                format: None,
                mapping: None,
                acquisition: "診療等の過程で取得".into(),
                at,
                chunk_bytes: tsunagu_pipeline::intake::DEFAULT_CHUNK_BYTES,
            };
            let r = intake.ingest(&p.id, &[path], opts).await?;
            *per_format.entry(format).or_default() += r.records_read;
            *totals.entry("records read").or_default() += r.records_read;
            *totals.entry("persons accepted").or_default() += r.accepted_persons as u64;
            *totals.entry("persons held").or_default() += r.held_persons as u64;
            *totals.entry("persons refused (stop request)").or_default() +=
                r.refused_persons as u64;
            *totals.entry("rows stored").or_default() += r.rows_stored.values().sum::<u64>();
            *totals.entry("rows held").or_default() += r.rows_held.values().sum::<u64>();
            *totals.entry("quarantined").or_default() += r.quarantined as u64;
        }
    }
    for (k, v) in &totals {
        say(ctx, format!("{k:<32} {v}"));
    }
    say(
        ctx,
        format!(
            "records read by format: {}",
            per_format
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let mut lake_rows = BTreeMap::new();
    for t in tsunagu_lake::Table::ALL {
        let n = lake.row_count(t)?;
        if n > 0 {
            lake_rows.insert(t.name(), n);
        }
    }
    say(
        ctx,
        format!(
            "lake (Parquet, encrypted): {}",
            lake_rows
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let reconciliation = demo_reconcile::reconcile(store, vault, lake, synth, &sent, at).await?;
    let tables = &reconciliation["tables"];
    let off: u64 = tables
        .as_object()
        .map(|t| {
            t.values()
                .map(|v| v["missing"].as_u64().unwrap_or(0) + v["extra"].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    say(
        ctx,
        format!(
            "reconciled against the generator's files, person by person and code by code: {} ({})",
            if off == 0 { "exact" } else { "DIFFERS" },
            tables
                .as_object()
                .map(|t| t
                    .iter()
                    .map(|(k, v)| format!("{k} {}/{}", v["stored"], v["expected"]))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
    );
    let linkage = link_tour(ctx, store, vault, synth).await?;
    let anonymized = anonymize_tour(ctx, lake, at)?;
    let subjects = vault.subjects().await?.len();
    say(
        ctx,
        format!("vault: {subjects} persons-at-provider, identities sealed per person"),
    );
    drop(intake);
    stores.vault.close().await;
    Ok(
        serde_json::json!({ "totals": totals, "by_format": per_format, "lake_rows": lake_rows, "vault_subjects": subjects, "anonymized": anonymized, "linkage": linkage, "reconciliation": reconciliation }),
    )
}

/// Split each file of the generator's CSV layout by its `provider_code` column into
/// `out/<provider code>/<file>`, as each provider would send its own extract. Returns the
/// (provider code, file stem) pairs written.
fn split_by_provider(
    csv_dir: &Path,
    out: &Path,
) -> anyhow::Result<std::collections::BTreeSet<(String, &'static str)>> {
    let mut written = std::collections::BTreeSet::new();
    for stem in ["identities", "claims", "care"] {
        let path = csv_dir.join(format!("{stem}.csv"));
        if !path.exists() {
            continue;
        }
        let mut rdr = csv::Reader::from_path(&path)?;
        let headers = rdr.headers()?.clone();
        let Some(code_col) = headers.iter().position(|h| h == "provider_code") else {
            anyhow::bail!("{}: no provider_code column", path.display());
        };
        let mut writers: BTreeMap<String, csv::Writer<std::fs::File>> = BTreeMap::new();
        for rec in rdr.records() {
            let rec = rec?;
            let Some(code) = rec.get(code_col) else {
                continue;
            };
            if !writers.contains_key(code) {
                let dir = out.join(code);
                std::fs::create_dir_all(&dir)?;
                let mut w = csv::Writer::from_path(dir.join(format!("{stem}.csv")))?;
                w.write_record(&headers)?;
                writers.insert(code.to_owned(), w);
                written.insert((code.to_owned(), stem));
            }
            if let Some(w) = writers.get_mut(code) {
                w.write_record(&rec)?;
            }
        }
        for w in writers.values_mut() {
            w.flush()?;
        }
    }
    Ok(written)
}

/// Part 3b (linkage, 名寄せ): every identity in the vault linked into persons on keyed-hash
/// tokens, scored against the generator's truth (pairs of records of the same person).
async fn link_tour(
    ctx: &Ctx,
    store: &Store,
    vault: &tsunagu_vault::Vault,
    synth: &Path,
) -> anyhow::Result<serde_json::Value> {
    section(ctx, "linkage (名寄せ) over the vault, on keyed-hash tokens");
    let started = std::time::Instant::now();
    let linked = tsunagu_pipeline::linkage::link_store(
        &store.ledger,
        vault,
        &store.key,
        &Default::default(),
        tsunagu_pipeline::linkage::DEFAULT_ACCEPT,
        &store.dir,
        &ctx.actor_for("operator"),
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    // The truth: which person each (provider, local patient id) is.
    let mut by_code: BTreeMap<String, ProviderId> = BTreeMap::new();
    for p in store.ledger.list_providers().await? {
        by_code.insert(p.code.to_string(), p.id);
    }
    let mut truth: BTreeMap<String, String> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(synth.join("truth/records.csv"))?;
    for rec in rdr.records() {
        let rec = rec?;
        let (Some(code), Some(patient), Some(person)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            continue;
        };
        let Some(provider) = by_code.get(code) else {
            continue;
        };
        let hash = tsunagu_vault::PatientHash::parse(
            &store.ledger.patient_hash(provider, &pid(patient)?),
        )?;
        truth.insert(
            vault.internal_id(provider, &hash).as_str().to_owned(),
            person.to_owned(),
        );
    }
    // Pairwise precision and recall over the subjects both sides know.
    let mut predicted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut actual: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, per) in &linked.person_of {
        if let Some(t) = truth.get(id.as_str()) {
            predicted.entry(per.as_str()).or_default().push(id.as_str());
            actual.entry(t.as_str()).or_default().push(id.as_str());
        }
    }
    let pairs =
        |groups: &BTreeMap<&str, Vec<&str>>| -> std::collections::BTreeSet<(String, String)> {
            let mut out = std::collections::BTreeSet::new();
            for members in groups.values() {
                for (i, a) in members.iter().enumerate() {
                    for b in &members[i + 1..] {
                        let (x, y) = if a < b { (a, b) } else { (b, a) };
                        out.insert(((*x).to_owned(), (*y).to_owned()));
                    }
                }
            }
            out
        };
    let (pp, tp_all) = (pairs(&predicted), pairs(&actual));
    let tp = pp.intersection(&tp_all).count() as f64;
    let precision = if pp.is_empty() {
        1.0
    } else {
        tp / pp.len() as f64
    };
    let recall = if tp_all.is_empty() {
        1.0
    } else {
        tp / tp_all.len() as f64
    };
    say(
        ctx,
        format!(
            "{} persons-at-provider → {} persons ({} candidate pairs, {} links) in {secs:.2} s",
            linked.subjects, linked.persons, linked.candidates, linked.links
        ),
    );
    say(
        ctx,
        format!(
            "against the truth ({} true persons): pairwise precision {precision:.4}, recall {recall:.4}",
            actual.len()
        ),
    );
    Ok(serde_json::json!({
        "subjects": linked.subjects,
        "persons": linked.persons,
        "true_persons": actual.len(),
        "precision": precision,
        "recall": recall,
        "seconds": secs,
    }))
}

/// Part 4 (anonymization): a person-level table from the lake (sex, age, municipality) made
/// 5-anonymous with at most 5 % suppression by the optimal search, with the re-identification
/// risk before and after.
fn anonymize_tour(
    ctx: &Ctx,
    lake: &tsunagu_lake::Lake,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    use tsunagu_anon::{Dataset, Hierarchy, Metric, PrivacyModels, SearchConfig, risk};
    section(
        ctx,
        "anonymization: person-level table (sex, age, municipality), k = 5, ≤ 5 % suppression",
    );
    let persons: Vec<tsunagu_lake::Person> = lake.read_rows()?;
    let today = at.with_timezone(&tsunagu_ledger::JST).date_naive();
    let mut sex = Vec::new();
    let mut age = Vec::new();
    let mut place = Vec::new();
    for p in &persons {
        let (Some(bm), Some(m), Some(p3)) =
            (p.birth_month, p.municipality.as_deref(), p.postal3.as_ref())
        else {
            continue;
        };
        // The prefecture of a municipality name, disambiguated by the 3-digit postal area.
        let Some(pref) = tsunagu_model::postal::prefecture_of_area(p3.as_str(), Some(m)) else {
            continue;
        };
        let born = bm.first_day();
        let years = today.years_since(born).unwrap_or(0).min(110);
        sex.push(p.sex.as_str().to_owned());
        age.push(years.to_string());
        place.push(format!("{pref}{m}"));
    }
    let n = sex.len();
    if n == 0 {
        say(
            ctx,
            "no person rows with birth month and residence: nothing to anonymize",
        );
        return Ok(serde_json::Value::Null);
    }
    let band = |a: u32, w: u32| format!("{}-{}", a / w * w, a / w * w + w - 1);
    let ages: Vec<u32> = (0..=110).collect();
    let age_rows: Vec<[String; 5]> = ages
        .iter()
        .map(|&a| {
            [
                a.to_string(),
                band(a, 5),
                band(a, 10),
                band(a, 20),
                "*".into(),
            ]
        })
        .collect();
    let age_h = Hierarchy::from_rows(
        "age",
        age_rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r.iter().map(String::as_str).collect()))
            .collect(),
    )?;
    let sexes = ["male", "female", "other", "unknown"];
    let sex_h = Hierarchy::from_rows(
        "sex",
        sexes
            .iter()
            .enumerate()
            .map(|(i, s)| (i + 1, vec![*s, "*"]))
            .collect(),
    )?;
    let mut places: Vec<String> = place.clone();
    places.sort();
    places.dedup();
    let place_rows: Vec<[String; 4]> = places
        .iter()
        .map(|pm| {
            let pref = tsunagu_model::postal::PREFECTURES
                .iter()
                .find(|p| pm.starts_with(p.name));
            [
                pm.clone(),
                pref.map(|p| p.name.to_owned())
                    .unwrap_or_else(|| "?".into()),
                pref.map(|p| p.region.to_owned())
                    .unwrap_or_else(|| "?".into()),
                "*".into(),
            ]
        })
        .collect();
    let place_h = Hierarchy::from_rows(
        "municipality",
        place_rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r.iter().map(String::as_str).collect()))
            .collect(),
    )?;
    let mut data = Dataset::new(n);
    data.add_quasi_identifier("sex", sex_h, &sex)?;
    data.add_quasi_identifier("age", age_h, &age)?;
    data.add_quasi_identifier("municipality", place_h, &place)?;
    let models = PrivacyModels {
        k: 5,
        suppression_limit: 0.05,
        ..Default::default()
    };
    let out = tsunagu_anon::search(&data, &models, &SearchConfig::optimal(Metric::Loss))?;
    let (_, suppressed) = tsunagu_anon::apply(&data, &models, Metric::Loss, &out.best.levels)?;
    let before = risk::assess(
        &risk::class_sizes(n, &[sex.clone(), age.clone(), place.clone()]),
        n as f64,
        0.2,
        1.0,
    );
    let generalized: Vec<Vec<String>> = (0..3)
        .map(|q| {
            (0..n)
                .filter(|r| !suppressed[*r])
                .map(|r| {
                    data.generalized(q, r, out.best.levels[q] as usize)
                        .to_owned()
                })
                .collect()
        })
        .collect();
    let kept = n - suppressed.iter().filter(|s| **s).count();
    let after = risk::assess(
        &risk::class_sizes(kept, &generalized),
        kept as f64,
        0.2,
        1.0,
    );
    let names = ["sex", "age", "municipality"];
    say(
        ctx,
        format!(
            "{n} person rows; optimal transformation: {} ({} of {} transformations checked, {} ms); {} suppressed",
            names
                .iter()
                .zip(&out.best.levels)
                .map(|(a, l)| format!("{a} level {l}"))
                .collect::<Vec<_>>()
                .join(", "),
            out.transformations_checked,
            out.lattice_size,
            out.elapsed.as_millis(),
            out.best.suppressed
        ),
    );
    say(
        ctx,
        format!(
            "risk before: prosecutor highest {:.2}, average {:.3}, sample uniques {} ({:.1} %)",
            before.prosecutor.highest,
            before.prosecutor.average,
            before.sample_uniques,
            before.sample_uniqueness * 100.0
        ),
    );
    say(
        ctx,
        format!(
            "risk after:  prosecutor highest {:.2}, average {:.3}, sample uniques {} ({:.1} %)",
            after.prosecutor.highest,
            after.prosecutor.average,
            after.sample_uniques,
            after.sample_uniqueness * 100.0
        ),
    );
    Ok(serde_json::json!({
        "records": n,
        "levels": out.best.levels,
        "suppressed": out.best.suppressed,
        "optimal": out.optimal,
        "risk_before": before,
        "risk_after": after,
    }))
}

/// Part 5 (extract and release): the whole population extracted with SQL behind the opt-out
/// gate, a stop request received after the extract (that person must not be released), the
/// release under `anonymized-jp` with its five measures, approval by a second person (which
/// writes the provision record), and the stopped person's accountability report.
async fn release_tour(
    ctx: &Ctx,
    store: &Store,
    root: &Path,
    synth: &Path,
    seed: u64,
) -> anyhow::Result<serde_json::Value> {
    section(
        ctx,
        "extract (抽出): SQL over the lake behind the opt-out gate, now",
    );
    let as_actor = |name: &str| {
        Ctx::new(GlobalArgs {
            actor: Some(name.to_owned()),
            ..ctx.global.clone()
        })
    };
    let (builder, reviewer) = (as_actor("demo-builder"), as_actor("demo-reviewer"));
    let cohort = root.join("cohort.sql");
    write_atomic(
        &cohort,
        "-- The whole synthetic population with all of its events (README: Extracts).\n\
         SELECT person_id FROM persons;\n"
            .as_bytes(),
        None,
    )?;
    let ex = crate::cmd::extract::extract(&builder, store, &cohort, "demo-population").await?;
    say(
        ctx,
        format!(
            "extract {}: {} persons ({} persons-at-provider); left out now: {} persons who asked to stop",
            ex.manifest.extract_id, ex.manifest.persons, ex.members, ex.manifest.excluded_stopped
        ),
    );

    // A stop request arrives after the extract: that person must not be in the release.
    let l = &store.ledger;
    let vault = store.vault().await?;
    let mut by_code: BTreeMap<String, ProviderId> = BTreeMap::new();
    for p in l.list_providers().await? {
        by_code.insert(p.code.to_string(), p.id);
    }
    let members: std::collections::HashSet<String> = l
        .extract_members(&ex.manifest.extract_id)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let mut late: Option<(ProviderId, LocalPatientId)> = None;
    let mut rdr = csv::Reader::from_path(synth.join("truth/records.csv"))?;
    for rec in rdr.records() {
        let rec = rec?;
        let (Some(code), Some(patient)) = (rec.get(0), rec.get(1)) else {
            continue;
        };
        let Some(provider) = by_code.get(code) else {
            continue;
        };
        let patient = pid(patient)?;
        let hash = tsunagu_vault::PatientHash::parse(&l.patient_hash(provider, &patient))?;
        if members.contains(vault.internal_id(provider, &hash).as_str()) {
            late = Some((provider.clone(), patient));
            break;
        }
    }
    vault.close().await;
    let (late_provider, late_patient) =
        late.ok_or_else(|| fail(exit::VERIFY, "no member of the extract found in the truth"))?;
    let receipt = l
        .add_stop(
            &ctx.actor_for("operator"),
            NewStop {
                provider: late_provider.clone(),
                patient: late_patient.clone(),
                requester: Requester::Person,
                relationship: None,
                received_at: Utc::now(),
                via: Via::Producer,
            },
        )
        .await?;
    say(
        ctx,
        format!(
            "a stop request arrives after the extract (receipt {receipt}): that person must not be released"
        ),
    );

    section(
        ctx,
        "release (匿名加工) under anonymized-jp: the five measures, the attack test",
    );
    let policy = crate::cmd::release::load_policy("anonymized-jp")?;
    let out = root.join("release");
    let built = crate::cmd::release::build(
        &builder,
        store,
        &ex.manifest.extract_id,
        &policy,
        &out,
        &crate::cmd::release::Destination {
            recipient: "デモ研究者 / demo researcher",
            request: "DEMO-REQ-1",
            seed: Some(seed),
        },
    )
    .await?;
    for line in crate::cmd::release::built_text(&built).lines() {
        say(ctx, line);
    }
    if !built.passed {
        return Err(fail(
            exit::VERIFY,
            "the demo's release did not pass its own gate (see release/risk-report.html)",
        ));
    }
    if built.excluded_now < 1 {
        return Err(fail(
            exit::VERIFY,
            "the person who asked to stop after the extract was not left out of the release",
        ));
    }
    let (provision, _) = crate::cmd::release::approve(&reviewer, store, &built.id, None).await?;
    say(
        ctx,
        format!("approved by demo-reviewer (not the builder): provision record {provision}"),
    );

    section(
        ctx,
        "accountability (audit person) for the person who asked to stop",
    );
    let report =
        crate::cmd::audit::person(ctx, store, late_provider.as_str(), late_patient.expose())
            .await?;
    for line in report.text().lines() {
        say(ctx, line);
    }
    if !report.provided_after_stop.is_empty() {
        return Err(fail(
            exit::VERIFY,
            "a release after the stop request included the person",
        ));
    }
    Ok(serde_json::json!({
        "extract": ex,
        "release": built,
        "provision_record": provision,
        "late_stop_receipt": receipt.to_string(),
        "provided_after_stop": report.provided_after_stop,
    }))
}

async fn verify(l: &Ledger, _op: &Actor) -> anyhow::Result<tsunagu_ledger::VerifyReport> {
    Ok(l.verify_audit().await?)
}
