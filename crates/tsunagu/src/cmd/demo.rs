//! `tsunagu demo`: the whole mission end to end on the embedded defaults (SQLite + local
//! files, no server). Every capability joins the demo when it lands.
//!
//! Layout under the demo directory (`--data DIR`, or a new temporary directory that is kept and
//! printed): `store/` (the tsunagu store: ledger, keys), `records/` (exported records).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use clap::Args;
use tsunagu_ledger::{
    Actor, Channel, Ledger, NewNotice, NewProvider, NewProvision, NewReception, NewStop,
    Recipient, RecordKind, Relationship, Requester, Via,
};
use tsunagu_model::{LocalPatientId, ProviderId, ProviderKind};

use crate::ctx::{Ctx, GlobalArgs, exit, fail};
use crate::store::{Store, write_atomic};

/// Options of `tsunagu demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Persons in the synthetic population.
    #[arg(long, default_value_t = 300)]
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

fn pid(s: &str) -> anyhow::Result<LocalPatientId> {
    LocalPatientId::parse(s).map_err(|e| fail(exit::INPUT, e.to_string()))
}

/// The demo's root directory: `--data DIR`, or a fresh temporary one.
fn root(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    match &ctx.global.data {
        Some(d) => {
            if d.join("store").exists() {
                return Err(fail(
                    exit::CONFLICT,
                    format!("{} already holds a demo; choose an empty directory", d.display()),
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
    let _ = &args;
    let summary = ctx.block_on(ledger_tour(ctx, &store_ctx, &root))??;
    ctx.emit(&summary, || format!("\ndemo complete: everything is under {}", root.display()));
    Ok(ExitCode::SUCCESS)
}

/// Part 1 (the Act's ledger): one provider of each kind, notices, stop requests, the
/// eligibility rule at work, records, and the audit chain.
async fn ledger_tour(ctx: &Ctx, store_ctx: &Ctx, root: &Path) -> anyhow::Result<serde_json::Value> {
    let (store, _) = Store::init(store_ctx).await?;
    let l = &store.ledger;
    let op = ctx.actor_for("operator");
    section(ctx, &format!("store: {}", store.dir.display()));
    l.set_setting(&op, "producer_name", "一般財団法人つなぐ医療情報機構（デモ）").await?;
    l.set_setting(&op, "producer_portal", "https://tsunagu.example.jp/stop").await?;
    l.set_setting(&op, "producer_desk", "〒100-0001 東京都千代田区千代田1-1 つなぐ窓口 03-0000-0000").await?;
    let wait = l.settings().await?.notice_wait_days;
    say(ctx, format!("waiting period after a notice: {wait} days"));

    section(ctx, "providers (医療情報取扱事業者), one of each kind");
    let filing = (Utc::now() - TimeDelta::days(400)).date_naive().to_string();
    let kinds: [(ProviderKind, &str, &str); 7] = [
        (ProviderKind::Hospital, "1310001", "つなぐ総合病院"),
        (ProviderKind::Clinic, "1320002", "みなと内科クリニック"),
        (ProviderKind::Pharmacy, "1340003", "さくら薬局"),
        (ProviderKind::CareFacility, "1370000004", "ひだまり介護センター"),
        (ProviderKind::Municipality, "131016", "千代田区"),
        (ProviderKind::Insurer, "06130005", "つなぐ健康保険組合"),
        (ProviderKind::SchoolOperator, "13000006", "学校法人つなぐ学園"),
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
    say(ctx, format!("{unfiled}  clinic          未届出クリニック (no 届出 on record yet)"));

    section(ctx, "notices (通知) and stop requests (提供停止の求め)");
    let hosp = ids.get(&ProviderKind::Hospital).cloned().context("hospital")?;
    let today = Utc::now().date_naive();
    let notice = |p: &ProviderId, patient: &str, days_ago: i64, ch: Channel, r: Recipient| -> anyhow::Result<NewNotice> {
        Ok(NewNotice {
            provider: p.clone(),
            patient: pid(patient)?,
            date: today - TimeDelta::days(days_ago),
            channel: ch,
            recipient: r,
        })
    };
    l.add_notice(&op, notice(&hosp, "H-0001", 120, Channel::Letter, Recipient::Person)?).await?;
    l.add_notice(&op, notice(&hosp, "H-0002", 5, Channel::InPerson, Recipient::Person)?).await?;
    l.add_notice(&op, notice(&hosp, "H-0003", 200, Channel::PosterPortal, Recipient::Person)?).await?;
    l.add_notice(&op, notice(&hosp, "H-0004", 90, Channel::Letter, Recipient::Guardian)?).await?;
    l.add_notice(&op, notice(&unfiled, "C-0001", 120, Channel::Letter, Recipient::Person)?).await?;
    say(ctx, "5 notices recorded (one to a guardian of a minor); patient ids are stored only as keyed hashes");
    let stop = |patient: &str, requester, relationship, hours_ago: i64| -> anyhow::Result<NewStop> {
        Ok(NewStop {
            provider: hosp.clone(),
            patient: pid(patient)?,
            requester,
            relationship,
            received_at: Utc::now() - TimeDelta::hours(hours_ago),
            via: Via::Producer,
        })
    };
    let r1 = l.add_stop(&op, stop("H-0003", Requester::Person, None, 24 * 30)?).await?;
    let r2 = l.add_stop(&op, stop("H-0005", Requester::Bereaved, Some(Relationship::Spouse), 2)?).await?;
    let r3 = l.add_stop(&op, stop("H-0004", Requester::Guardian, None, 1)?).await?;
    say(ctx, format!("stop by the person        → receipt {r1}"));
    say(ctx, format!("stop by a bereaved spouse → receipt {r2}"));
    say(ctx, format!("stop by a guardian        → receipt {r3}"));

    section(ctx, "eligibility: may the data be provided now?");
    let now = Utc::now();
    let cases = [
        (&hosp, "H-0001", "notified 120 days ago"),
        (&hosp, "H-0002", "notified 5 days ago"),
        (&hosp, "H-0003", "notified, then asked to stop"),
        (&hosp, "H-0004", "guardian notified, then guardian asked to stop"),
        (&hosp, "H-0009", "never notified"),
        (&unfiled, "C-0001", "provider without a 届出"),
    ];
    let mut decisions = Vec::new();
    for (p, patient, what) in cases {
        let d = l.eligibility(p, &pid(patient)?, now).await?;
        say(ctx, format!("{:<48} {:<5} {}", what, if d.eligible { "YES" } else { "no" }, d.explain()));
        decisions.push(serde_json::json!({ "case": what, "eligible": d.eligible, "reason": d.reason }));
    }
    let before = l.eligibility(&hosp, &pid("H-0003")?, now - TimeDelta::days(60)).await?;
    say(ctx, format!("{:<48} {:<5} {}", "…the same person 60 days ago", if before.eligible { "YES" } else { "no" }, before.explain()));

    section(ctx, "stop request status by receipt (same answer shape for unknown numbers)");
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
    say(ctx, format!("reception record {rec}, provision record {prov}"));
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
    say(ctx, format!("deleting today's records: {}", match refused {
        Ok(_) => "allowed (unexpected)".to_owned(),
        Err(e) => format!("refused — {e}"),
    }));

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

async fn verify(l: &Ledger, _op: &Actor) -> anyhow::Result<tsunagu_ledger::VerifyReport> {
    Ok(l.verify_audit().await?)
}
