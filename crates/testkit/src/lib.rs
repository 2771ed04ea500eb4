//! Test support shared by the crates' test suites (a dev-dependency only; never linked into the
//! binary).
//!
//! * [`postgres`] hands each test a fresh database on a real PostgreSQL server, starting the
//!   local cluster if it is installed but stopped, and failing loudly (never skipping) when no
//!   server can be had: every ledger test must run on both backends.
//! * [`python`] gives a Python interpreter inside a virtual environment with the independent
//!   checkers installed from PyPI (pycanon, fhir.resources, …), so that our outputs are verified
//!   by code we did not write.
//!
//! Both panic with a message saying what to install: they are only ever called from tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The workspace's `target/` directory (or `CARGO_TARGET_DIR`), where caches live.
pub fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// A database created for one test on the PostgreSQL server; dropped when the value is dropped.
pub struct PgDatabase {
    /// Connection URL of the fresh database.
    pub url: String,
    name: String,
    admin: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(admin_url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(admin_url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn try_start_local_cluster() {
    // Debian's layout: /etc/postgresql/<version>/main. `--skip-systemctl-redirect` because
    // containers and CI machines have no systemd.
    let Ok(entries) = fs::read_dir("/etc/postgresql") else {
        return;
    };
    for e in entries.flatten() {
        let version = e.file_name().to_string_lossy().into_owned();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .output();
    }
}

/// A fresh, empty PostgreSQL database for one test.
///
/// The server is `TSUNAGU_TEST_PG` (an admin URL) or `postgres://postgres@127.0.0.1:5432/postgres`.
/// Panics, naming what is missing, when no server answers even after trying to start it.
pub fn postgres() -> PgDatabase {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin = std::env::var("TSUNAGU_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!(
        "tsunagu_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let create = format!("CREATE DATABASE {name}");
    if let Err(first) = psql(&admin, &create) {
        try_start_local_cluster();
        let mut last = first;
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            match psql(&admin, &create) {
                Ok(()) => {
                    last.clear();
                    break;
                }
                Err(e) => last = e,
            }
        }
        if !last.is_empty() {
            panic!(
                "PostgreSQL is required for the ledger tests and none answers at {admin} \
                 (set TSUNAGU_TEST_PG, or run .ci/run, which installs and starts it): {last}"
            );
        }
    }
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    PgDatabase {
        url: format!("{base}/{name}"),
        name,
        admin,
    }
}

/// A Python interpreter (inside a venv under `target/`) with `packages` installed.
///
/// `packages` are pip requirement specifiers; pin versions so results are reproducible. The venv
/// is `TSUNAGU_PYENV` or `target/tsunagu-pyenv`, shared by all tests and guarded by a file lock.
pub fn python(packages: &[&str]) -> PathBuf {
    let venv = std::env::var("TSUNAGU_PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target_dir().join("tsunagu-pyenv"));
    fs::create_dir_all(venv.parent().unwrap_or(Path::new("."))).expect("create target dir");
    let lock_path = venv.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("open venv lock file");
    lock.lock().expect("lock venv");
    let py = venv.join("bin/python");
    if !py.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is required for the independent checks (apt-get install python3 python3-venv)");
        assert!(
            status.success(),
            "python3 -m venv {} failed",
            venv.display()
        );
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|spec| !venv.join(marker_name(spec)).exists())
        .collect();
    if !missing.is_empty() {
        let out = Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(&missing)
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "pip install {missing:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for spec in &missing {
            File::create(venv.join(marker_name(spec))).expect("write marker");
        }
    }
    drop(lock);
    py
}

fn marker_name(spec: &str) -> String {
    let clean: String = spec
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(".installed-{clean}")
}
