//! The ledger commands, run as a user runs them: the real binary, against SQLite and against a
//! real PostgreSQL server, including tampering with the database through sqlite3 and psql.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
    database: Option<String>,
    _pg: Option<tsunagu_testkit::PgDatabase>,
}

impl Env {
    fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            database: None,
            _pg: None,
        }
    }

    fn postgres() -> Env {
        let pg = tsunagu_testkit::postgres();
        Env {
            dir: tempfile::tempdir().unwrap(),
            database: Some(pg.url.clone()),
            _pg: Some(pg),
        }
    }

    fn store(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tsunagu"));
        c.arg("--data")
            .arg(self.store())
            .arg("--actor")
            .arg("cli-test");
        if let Some(db) = &self.database {
            c.arg("--database").arg(db);
        }
        c.env_remove("TSUNAGU_STORE_KEY")
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    /// Run SQL on the ledger behind tsunagu's back, with the database's own client.
    fn tamper(&self, sql: &str) {
        let status = match &self.database {
            None => Command::new("sqlite3")
                .arg(self.store().join("ledger.sqlite"))
                .arg(sql)
                .status(),
            Some(url) => Command::new("psql")
                .arg(url)
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
                .status(),
        }
        .expect("sqlite3 and psql are installed by .ci/run");
        assert!(status.success(), "tamper SQL failed: {sql}");
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn scenario(env: Env) {
    // init is idempotent.
    assert_eq!(env.json(&["init"])["created"], true);
    assert_eq!(env.json(&["init"])["created"], false);

    // Providers.
    let add = [
        "provider",
        "add",
        "--kind",
        "hospital",
        "--name",
        "つなぐ総合病院",
        "--code",
        "1312345",
        "--address",
        "東京都千代田区千代田1-1",
        "--representative",
        "院長 山田太郎",
        "--filing-date",
        "2025-01-10",
        "--filing-ref",
        "届出-0001",
    ];
    let id = env.json(&add)["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prv-"));
    let dup = env.run(&add);
    assert_eq!(code(&dup), 5, "duplicate provider is a conflict");
    let bad = env.run(&[
        "provider",
        "add",
        "--kind",
        "dentist",
        "--name",
        "x",
        "--code",
        "1",
        "--address",
        "x",
        "--representative",
        "x",
    ]);
    assert_eq!(code(&bad), 3);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("kind"));
    assert_eq!(env.json(&["provider", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(env.json(&["provider", "show", &id])["code"], "1312345");
    let upd = env.json(&["provider", "update", &id, "--contract", "suspended"]);
    assert_eq!(upd["contract_state"], "suspended");
    let missing = env.run(&["provider", "show", "prv-0000000000"]);
    assert_eq!(code(&missing), 4);

    // Notices: single, import all-or-none, duplicates.
    env.ok(&[
        "notice",
        "add",
        "--provider",
        &id,
        "--patient",
        "PATIENT-SECRET-1",
        "--date",
        "2025-03-01",
        "--channel",
        "letter",
    ]);
    let dup = env.run(&[
        "notice",
        "add",
        "--provider",
        &id,
        "--patient",
        "PATIENT-SECRET-1",
        "--date",
        "2025-03-02",
        "--channel",
        "letter",
    ]);
    assert_eq!(code(&dup), 5);
    assert!(
        !String::from_utf8_lossy(&dup.stderr).contains("PATIENT-SECRET-1"),
        "errors never print patient ids"
    );
    let bad_csv = write(
        env.dir.path(),
        "bad.csv",
        "patient,date,channel\nN1,2025-03-01,letter\nN2,2025-13-01,letter\n",
    );
    let o = env.run(&["notice", "import", "--provider", &id, &bad_csv]);
    assert_eq!(code(&o), 3);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.csv") && err.contains("line 3") && err.contains("date"),
        "{err}"
    );
    let good_csv = write(
        env.dir.path(),
        "good.csv",
        "patient,date,channel\nN1,2025-03-01,letter\nN2,2025-03-01,poster_portal\n",
    );
    assert_eq!(
        env.json(&["notice", "import", "--provider", &id, &good_csv])["imported"],
        2
    );
    let nope = env.run(&[
        "notice",
        "add",
        "--provider",
        "prv-0000000000",
        "--patient",
        "X",
        "--date",
        "2025-03-01",
        "--channel",
        "letter",
    ]);
    assert_eq!(code(&nope), 4);

    // The notice document carries the Act's items.
    let doc = env.ok(&["notice", "template", "--provider", &id, "--format", "html"]);
    for needle in ["つなぐ総合病院", "提供を停止", "30 日", "<html"] {
        assert!(doc.contains(needle), "notice lacks {needle}");
    }
    let tpl = write(env.dir.path(), "tpl.txt", "{{provider_name}} only");
    assert_eq!(
        code(&env.run(&["notice", "template", "--provider", &id, "--template", &tpl])),
        3
    );

    // Stop requests and receipts.
    let receipt = env.json(&[
        "stop",
        "add",
        "--provider",
        &id,
        "--patient",
        "N2",
        "--requester",
        "person",
        "--received-at",
        "2025-06-01T10:00:00+09:00",
    ])["receipt"]
        .as_str()
        .unwrap()
        .to_owned();
    let known = env.json(&["stop", "status", &receipt]);
    let unknown = env.json(&["stop", "status", "AAAA-BBBB-CCCC-DDDD"]);
    assert_eq!(known["state"], "in_effect");
    assert_eq!(unknown["state"], "unknown");
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&known), keys(&unknown));
    let bereaved = env.run(&[
        "stop",
        "add",
        "--provider",
        &id,
        "--patient",
        "N1",
        "--requester",
        "bereaved",
    ]);
    assert_eq!(code(&bereaved), 3);

    // Eligibility: exit 0 either way.
    let yes = env.json(&[
        "eligibility",
        "--provider",
        &id,
        "--patient",
        "N1",
        "--at",
        "2025-05-01",
    ]);
    assert_eq!(yes["eligible"], true);
    let stopped = env.json(&[
        "eligibility",
        "--provider",
        &id,
        "--patient",
        "N2",
        "--at",
        "2025-07-01",
    ]);
    assert_eq!(stopped["eligible"], false);
    assert_eq!(stopped["detail"]["code"], "stopped");
    let waiting = env.json(&[
        "eligibility",
        "--provider",
        &id,
        "--patient",
        "N1",
        "--at",
        "2025-03-15",
    ]);
    assert_eq!(waiting["detail"]["code"], "waiting");
    let impossible = env.run(&[
        "eligibility",
        "--provider",
        &id,
        "--patient",
        "N1",
        "--at",
        "2025-02-30",
    ]);
    assert_eq!(code(&impossible), 3);

    // Records and export.
    env.ok(&[
        "records",
        "add-reception",
        "--provider",
        &id,
        "--acquisition",
        "診療の過程で取得",
        "--received-on",
        "2025-04-01",
        "--count",
        "patients=2",
        "--count",
        "conditions=5",
    ]);
    let csv = env.ok(&[
        "records",
        "export",
        "--kind",
        "reception",
        "--format",
        "csv",
    ]);
    assert!(csv.starts_with("id,provider_id,provider_name"));
    assert!(csv.contains("届出-0001"));
    let none = env.ok(&[
        "records",
        "export",
        "--kind",
        "reception",
        "--format",
        "csv",
        "--from",
        "2025-05-01",
    ]);
    assert_eq!(none.lines().count(), 1);
    assert_eq!(
        code(&env.run(&[
            "records",
            "purge",
            "--kind",
            "reception",
            "--before",
            "2030-01-01"
        ])),
        5
    );

    // Settings.
    assert_eq!(
        env.json(&["settings", "set", "notice_wait_days", "14"])["notice_wait_days"],
        14
    );

    // The audit chain: intact, then each direct edit caught by `audit verify` (exit 6).
    let v = env.json(&["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    env.tamper("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2");
    let o = env.run(&["--json", "audit", "verify"]);
    assert_eq!(code(&o), 6);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["first_bad_seq"], 2, "{r}");
    env.tamper("UPDATE audit_events SET actor = 'cli-test' WHERE seq = 2");
    assert_eq!(env.json(&["audit", "verify"])["ok"], true);
    env.tamper("UPDATE notices SET notice_date = '2020-01-01'");
    assert_eq!(code(&env.run(&["audit", "verify"])), 6);
}

#[test]
fn ledger_commands_on_sqlite() {
    scenario(Env::sqlite());
}

#[test]
fn ledger_commands_on_postgres() {
    scenario(Env::postgres());
}

#[test]
fn init_refuses_a_directory_that_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.docx"), "precious").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .arg("--data")
        .arg(dir.path())
        .arg("init")
        .output()
        .unwrap();
    assert_eq!(code(&o), 5);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_tsunagu"))
        .arg("--data")
        .arg(dir.path().join("nowhere"))
        .args(["provider", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 4, "commands other than init need a store");
}

#[test]
fn the_key_file_must_be_private() {
    let env = Env::sqlite();
    env.ok(&["init"]);
    let key = env.store().join("keys/store.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(code(&env.run(&["provider", "list"])), 5);
    }
}
