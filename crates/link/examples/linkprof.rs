//! Where time and memory go in a two-file linkage run (the path `tsunagu link --left --right`
//! takes), phase by phase.
//!
//! ```text
//! cargo run --release -p tsunagu-link --example linkprof -- gen ../shared/data/jp-names DIR 100000
//! cargo run --release -p tsunagu-link --example linkprof -- run DIR
//! ```
//! `gen` writes `DIR/a.csv`, `DIR/b.csv` and `DIR/truth.csv` (id → person); `run` links them and
//! prints seconds and resident memory (current and peak) after each phase, and F1 against truth.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use tsunagu_link::engine::{self, LinkOptions};
use tsunagu_link::record::Encoder;
use tsunagu_link::schema::Schema;
use tsunagu_link::simulate::{self, NamePools};
use tsunagu_link::source;
use tsunagu_link::token::LinkageKey;

fn mem() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (get("VmRSS:"), get("VmHWM:"))
}

/// CPU seconds (user + system) of the process so far.
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn phase(t: &mut Instant, name: &str) {
    let (rss, hwm) = mem();
    eprintln!(
        "{name:<28} {:>7.3} s  cpu {:>7.2} s  rss {rss:>7.1} MiB   peak {hwm:>7.1} MiB",
        t.elapsed().as_secs_f64(),
        cpu()
    );
    *t = Instant::now();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") => {
            let names = Path::new(&args[2]);
            let dir = Path::new(&args[3]);
            let n: usize = args[4].parse()?;
            let read = |f: &str| std::fs::read_to_string(names.join(f));
            let pools = NamePools::from_csv(&read("family_names.csv")?, &read("given_names.csv")?);
            let (l, r) = simulate::two_sources(&pools, n, n / 2, 1.0, 2026);
            std::fs::create_dir_all(dir)?;
            simulate::to_csv(&l, std::fs::File::create(dir.join("a.csv"))?)?;
            simulate::to_csv(&r, std::fs::File::create(dir.join("b.csv"))?)?;
            let mut t = String::from("id,person\n");
            for x in l.iter().chain(&r) {
                t.push_str(&format!("{},{}\n", x.id, x.person));
            }
            std::fs::write(dir.join("truth.csv"), t)?;
        }
        Some("run") => {
            let dir = Path::new(&args[2]);
            let total = Instant::now();
            let mut t = Instant::now();
            phase(&mut t, "start");
            let _ = tsunagu_link::normalize::address::split("東京都千代田区千代田1-1", None);
            phase(&mut t, "address directory");
            let key = LinkageKey::from_bytes([1; 32]);
            let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
            let la = source::read_roles(&a, None)?;
            let lb = source::read_roles(&b, None)?;
            let schema = Schema::from_roles(|r| la.contains(&r) && lb.contains(&r));
            let enc = Encoder::new(&key, schema);
            let (ls, rs) = rayon::join(
                || source::tokenise_csv(&a, None, &enc),
                || source::tokenise_csv(&b, None, &enc),
            );
            let (ls, rs) = (ls?, rs?);
            let (lt, rt) = (&ls.table, &rs.table);
            eprintln!(
                "  token tables {:.1} MiB",
                (lt.heap_bytes() + rt.heap_bytes()) as f64 / 1048576.0
            );
            phase(&mut t, "normalise+tokenise");
            let opts = LinkOptions {
                u_samples: std::env::var("U_SAMPLES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1_000_000),
                ..LinkOptions::default()
            };
            let out = engine::link(lt, rt, &opts)?;
            eprintln!(
                "  candidates {} blocking {:.3} s training {:.3} s scoring {:.3} s",
                out.stats.candidates,
                out.stats.seconds_blocking,
                out.stats.seconds_training,
                out.stats.seconds_scoring
            );
            eprintln!("  per rule {:?}", out.stats.per_rule);
            phase(&mut t, "link");
            let truth: HashMap<String, usize> = std::fs::read_to_string(dir.join("truth.csv"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let (a, b) = l.split_once(',')?;
                    Some((a.to_owned(), b.parse().ok()?))
                })
                .collect();
            let tp = out
                .links
                .iter()
                .filter(|p| {
                    truth.get(&ls.ids.get(p.left as usize))
                        == truth.get(&rs.ids.get(p.right as usize))
                })
                .count();
            let true_pairs = ls.ids.len() / 2;
            let p = tp as f64 / out.links.len().max(1) as f64;
            let r = tp as f64 / true_pairs.max(1) as f64;
            eprintln!(
                "links {} precision {p:.4} recall {r:.4} F1 {:.4}  total {:.3} s",
                out.links.len(),
                2.0 * p * r / (p + r),
                total.elapsed().as_secs_f64()
            );
        }
        _ => eprintln!("usage: linkprof gen NAMES_DIR OUT_DIR N | linkprof run DIR"),
    }
    Ok(())
}
