//! `tsunagu link`: link identity files on keyed-hash tokens (名寄せ).
//!
//! * `--left A.csv --right B.csv --out PAIRS.csv` writes `left_id,right_id,match_probability`
//!   for pairs at or above `--threshold`;
//! * `--dedupe A.csv --out CLUSTERS.csv` writes `id,cluster_id`.
//!
//! * neither: links the store's identity vault incrementally (`pipeline::linkage`), with a
//!   review queue (`tsunagu link review`) whose no-match decisions split persons.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use tsunagu_link::engine::{self, LinkOptions, LinkOutcome};
use tsunagu_link::output::{self, PairIds};
use tsunagu_link::record::{Encoder, TokenCache, TokenTable};
use tsunagu_link::schema::{Role, Schema};
use tsunagu_link::source::{self, Ids, Mapping, Tokenised};
use tsunagu_link::token::LinkageKey;

use crate::ctx::{Ctx, exit, fail};

/// Arguments of `tsunagu link`.
#[derive(Args, Debug)]
pub struct LinkArgs {
    /// Left identity file (CSV, UTF-8, header row).
    #[arg(long, requires = "right", conflicts_with = "dedupe")]
    pub left: Option<PathBuf>,
    /// Right identity file.
    #[arg(long, requires = "left")]
    pub right: Option<PathBuf>,
    /// Deduplicate one file into clusters instead.
    #[arg(long)]
    pub dedupe: Option<PathBuf>,
    /// Output CSV (pairs for --left/--right, clusters for --dedupe).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Minimum match probability of a link, in (0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Linking the vault: pairs at or above this probability are linked; pairs from
    /// `--threshold` up to it wait in the review queue for an operator's decision.
    #[arg(long, default_value_t = tsunagu_pipeline::linkage::DEFAULT_ACCEPT)]
    pub accept: f64,
    /// The review queue of the vault's linkage.
    #[command(subcommand)]
    pub review: Option<ReviewCmd>,
    /// Mapping file (TOML, `[columns] role = "header"`) when headers are not the well-known ones.
    #[arg(long)]
    pub columns: Option<PathBuf>,
    /// Two sources: keep at most one link per record.
    #[arg(long)]
    pub one_to_one: bool,
    /// Add the match weight and each field's weight to every output pair.
    #[arg(long)]
    pub explain: bool,
    /// With --dedupe: also write the scored pairs here.
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// File with the linkage key (64 hex digits). Without it a one-off random key is used,
    /// which is enough when both files are tokenised in this run.
    #[arg(long, env = "TSUNAGU_LINKAGE_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Reject the input when any value cannot be parsed (default: treat it as missing).
    #[arg(long)]
    pub strict: bool,
    /// Random pairs sampled to estimate u.
    #[arg(long, default_value_t = 1_000_000)]
    pub u_samples: usize,
    /// Seed of the u sample.
    #[arg(long, default_value_t = 0x0074_7375_6e61_6775)]
    pub seed: u64,
}

fn roles(path: &Path, mapping: Option<&Mapping>) -> anyhow::Result<Vec<Role>> {
    source::read_roles(path, mapping).map_err(|e| fail(exit::INPUT, e.to_string()))
}

fn key(args: &LinkArgs) -> anyhow::Result<LinkageKey> {
    match &args.key_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| fail(exit::INPUT, format!("{}: cannot read: {e}", p.display())))?;
            LinkageKey::from_hex(&text)
                .map_err(|e| fail(exit::INPUT, format!("{}: {e}", p.display())))
        }
        None => Ok(LinkageKey::generate()),
    }
}

/// Read, normalise and tokenise one file as it streams: only a batch of rows is plaintext at
/// any time, so that plaintext does not outlive its use (and memory is that of the tokens).
fn tokenise(
    path: &Path,
    mapping: Option<&Mapping>,
    enc: &Encoder,
    cache: &TokenCache,
    strict: bool,
) -> anyhow::Result<Tokenised> {
    let t = source::tokenise_csv_cached(path, mapping, enc, cache)
        .map_err(|e| fail(exit::INPUT, e.to_string()))?;
    if strict && !t.invalid.is_empty() {
        let what: Vec<String> = t.invalid.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        return Err(fail(
            exit::INPUT,
            format!(
                "{}: values that cannot be parsed ({})",
                path.display(),
                what.join(", ")
            ),
        ));
    }
    Ok(t)
}

fn options(args: &LinkArgs) -> anyhow::Result<LinkOptions> {
    if !(args.threshold > 0.0 && args.threshold <= 1.0) {
        return Err(fail(exit::USAGE, "--threshold must be in (0, 1]"));
    }
    Ok(LinkOptions {
        threshold: args.threshold,
        one_to_one: args.one_to_one,
        u_samples: args.u_samples,
        seed: args.seed,
        ..LinkOptions::default()
    })
}

/// The two sides of a pairs file: token tables, ids and the id column names.
struct Sides<'a> {
    lt: &'a TokenTable,
    rt: &'a TokenTable,
    left_ids: &'a Ids,
    right_ids: &'a Ids,
    header: (&'a str, &'a str),
}

fn write_pairs(
    path: &Path,
    out: &LinkOutcome,
    sides: &Sides<'_>,
    explain: bool,
) -> anyhow::Result<()> {
    let cmp = tsunagu_link::compare::Comparator::new(sides.lt, sides.rt)
        .map_err(|e| fail(exit::INPUT, e.to_string()))?;
    let ids = PairIds {
        left: sides.left_ids,
        right: sides.right_ids,
        header: sides.header,
    };
    write_whole(path, |w| {
        output::write_pairs(w, out, ids, explain.then_some(&cmp))
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// Write `path` through `write` so that it is never seen half-written
/// (`quarantine::write_atomic_with`: a temporary file beside it, synced, then renamed over it; a
/// run killed mid-way leaves the old file or none). A target that exists and is not a regular
/// file (`/dev/stdout`, a named pipe) is written directly: it cannot be replaced, and there is
/// no file to leave half-written.
fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> Result<(), String>,
) -> anyhow::Result<()> {
    let buffered = |file: &std::fs::File| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
        write(&mut w).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut w)
    };
    let done = if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| buffered(&f))
    } else {
        tsunagu_pipeline::quarantine::write_atomic_with(path, None, |f| buffered(f))
    };
    done.map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{}: cannot write: {e}", path.display()),
        )
    })
}

/// `tsunagu link review`: uncertain pairs of the vault's linkage.
#[derive(clap::Subcommand, Debug)]
pub enum ReviewCmd {
    /// The queue: pairs waiting for a decision, with what each field contributed.
    Review {
        /// Open both identities of item N (1-based) from the vault (audited).
        #[arg(long)]
        show: Option<usize>,
        /// Decide item N (1-based): `match` or `no-match`. Applies from the next `tsunagu link`
        /// on, and to every run after.
        #[arg(long, num_args = 2, value_names = ["N", "DECISION"])]
        decide: Option<Vec<String>>,
    },
}

fn review(ctx: &Ctx, show: Option<usize>, decide: Option<Vec<String>>) -> anyhow::Result<ExitCode> {
    use tsunagu_pipeline::linkage::load_state;
    ctx.block_on(async {
        let store = crate::store::Store::open(ctx).await?;
        let state = load_state(&store.dir)?;
        let actor = ctx.actor_for("operator");
        if let Some(d) = decide {
            let n: usize = d[0]
                .parse()
                .map_err(|_| fail(exit::USAGE, "--decide N DECISION: N is a number"))?;
            let m = match d[1].as_str() {
                "match" => true,
                "no-match" => false,
                _ => {
                    return Err(fail(
                        exit::USAGE,
                        "--decide N DECISION: DECISION is match or no-match",
                    ));
                }
            };
            let index = n
                .checked_sub(1)
                .ok_or_else(|| fail(exit::USAGE, "items count from 1"))?;
            let decided = tsunagu_pipeline::linkage::decide_in_store(&store.dir, index, m)?;
            let item = &decided.item;
            // A split is audited as merges are: which person id stayed, which one is new.
            store
                .ledger
                .record_event(
                    &actor,
                    "link.review.decide",
                    "link",
                    "review",
                    serde_json::json!({
                        "a": item.a,
                        "b": item.b,
                        "match": m,
                        "split": decided.split,
                        "still_joined": decided.still_joined,
                    }),
                )
                .await?;
            ctx.emit(
                &serde_json::json!({
                    "decided": item,
                    "match": m,
                    "split": decided.split,
                    "still_joined": decided.still_joined,
                }),
                || {
                    let mut s = format!(
                        "recorded: {} and {} are {}; it applies from the next `tsunagu link`",
                        item.a,
                        item.b,
                        if m {
                            "the same person"
                        } else {
                            "different persons"
                        }
                    );
                    if let Some((kept, new)) = &decided.split {
                        s.push_str(&format!(
                            "\nsplit: {kept} keeps the part with the record that gave its id; the other part is now {new}"
                        ));
                    } else if decided.still_joined {
                        s.push_str("\nother links still join the two into one person: decide those too to split it");
                    }
                    s
                },
            );
        } else if let Some(n) = show {
            let item = state
                .review()
                .get(n.wrapping_sub(1))
                .cloned()
                .ok_or_else(|| fail(exit::NOT_FOUND, format!("no item {n} in the review queue")))?;
            let vault = store.vault().await?;
            let mut sides = Vec::new();
            for id in [&item.a, &item.b] {
                let internal = tsunagu_vault::InternalId::parse(id)?;
                let v = vault
                    .identity(&internal)
                    .await?
                    .and_then(|v| v.last().map(|x| x.payload.clone()));
                sides.push(serde_json::to_value(&v)?);
            }
            // Opening identities is a read of personal data: audited.
            store
                .ledger
                .record_event(
                    &actor,
                    "link.review.show",
                    "link",
                    "review",
                    serde_json::json!({ "a": item.a, "b": item.b }),
                )
                .await?;
            vault.close().await;
            ctx.emit(
                &serde_json::json!({ "item": item, "a": sides[0], "b": sides[1] }),
                || {
                    format!(
                        "p = {:.3}\n{}: {}\n{}: {}",
                        item.probability, item.a, sides[0], item.b, sides[1]
                    )
                },
            );
        } else {
            let q = state.review();
            ctx.emit(&serde_json::to_value(q)?, || {
                q.iter()
                    .enumerate()
                    .map(|(i, r)| {
                        format!(
                            "{:>4}  p = {:.3}  {} ~ {}  {}",
                            i + 1,
                            r.probability,
                            r.a,
                            r.b,
                            r.fields
                                .iter()
                                .map(|(f, l, w)| format!("{f}:{l} {w:+.1}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })?
}

/// `tsunagu link` with neither `--left/--right` nor `--dedupe`: link every identity in the store's
/// vault into persons, on keyed-hash tokens under a linkage key derived from the store key. The
/// result (internal id → person id, nothing identifying) is written to `DIR/link/persons.csv`
/// and the run is audited.
fn link_vault(ctx: &Ctx, opts: &LinkOptions, accept: f64) -> anyhow::Result<ExitCode> {
    ctx.block_on(async {
        let store = crate::store::Store::open(ctx).await?;
        let vault = store.vault().await?;
        let started = Instant::now();
        let linked = tsunagu_pipeline::linkage::link_store(
            &store.ledger,
            &vault,
            &store.key,
            opts,
            accept,
            &store.dir,
            &ctx.actor_for("operator"),
        )
        .await?;
        let dir = store.dir.join("link");
        vault.close().await;
        store.close().await;
        let secs = started.elapsed().as_secs_f64();
        ctx.emit(
            &serde_json::json!({ "subjects": linked.subjects, "persons": linked.persons, "created": linked.created, "merged": linked.merged.len(), "to_review": linked.to_review, "candidates": linked.candidates, "links": linked.links, "seconds": secs, "out": dir.join("persons.csv") }),
            || {
                format!(
                    "linked {} persons-at-provider into {} persons ({} links; {} new persons, {} merges; {} pairs to review: `tsunagu link review`) in {secs:.2} s → {}",
                    linked.subjects,
                    linked.persons,
                    linked.links,
                    linked.created,
                    linked.merged.len(),
                    linked.to_review,
                    dir.join("persons.csv").display()
                )
            },
        );
        Ok(ExitCode::SUCCESS)
    })?
}

/// Run `tsunagu link`.
pub fn run(ctx: &Ctx, args: LinkArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mapping = match &args.columns {
        Some(p) => Some(Mapping::load(p).map_err(|e| fail(exit::INPUT, e.to_string()))?),
        None => None,
    };
    let opts = options(&args)?;
    if let Some(ReviewCmd::Review { show, decide }) = args.review {
        return review(ctx, show, decide);
    }
    if args.left.is_none() && args.right.is_none() && args.dedupe.is_none() {
        if !(args.accept >= args.threshold && args.accept <= 1.0) {
            return Err(fail(
                exit::USAGE,
                "--accept must lie between --threshold and 1",
            ));
        }
        return link_vault(ctx, &opts, args.accept);
    }
    let Some(out_path) = args.out.clone() else {
        return Err(fail(exit::USAGE, "--out is required"));
    };
    let key = key(&args)?;
    if let (Some(lp), Some(rp)) = (&args.left, &args.right) {
        let (lr, rr) = (roles(lp, mapping.as_ref())?, roles(rp, mapping.as_ref())?);
        let schema = Schema::from_roles(|r| lr.contains(&r) && rr.contains(&r));
        if schema.fields.is_empty() {
            return Err(fail(
                exit::INPUT,
                "the two files have no comparable column in common",
            ));
        }
        let enc = Encoder::new(&key, schema);
        let cache = TokenCache::default();
        // Both files are read and tokenised at the same time.
        let (l, r) = rayon::join(
            || tokenise(lp, mapping.as_ref(), &enc, &cache, args.strict),
            || tokenise(rp, mapping.as_ref(), &enc, &cache, args.strict),
        );
        let (lt, rt) = (l?, r?);
        // The token cache and the encoder (its q-gram numbering) serve tokenising only: freed
        // before linking needs the memory.
        drop(cache);
        drop(enc);
        let seconds_tokenise = started.elapsed().as_secs_f64();
        let (linv, rinv) = (&lt.invalid, &rt.invalid);
        let (lt, rt, left_ids, right_ids) = (&lt.table, &rt.table, &lt.ids, &rt.ids);
        let out = engine::link(lt, rt, &opts).map_err(|e| fail(exit::INPUT, e.to_string()))?;
        let sides = Sides {
            lt,
            rt,
            left_ids,
            right_ids,
            header: ("left_id", "right_id"),
        };
        write_pairs(&out_path, &out, &sides, args.explain)?;
        let json = serde_json::json!({
            "mode": "link",
            "seconds_read_normalise_and_tokenise": seconds_tokenise,
            "fields": lt.schema().fields.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "invalid_values": { "left": linv, "right": rinv },
            "stats": out.stats,
            "seconds": started.elapsed().as_secs_f64(),
            "peak_rss_kib": crate::measure::peak_kib(),
            "out": out_path,
        });
        ctx.emit(&json, || {
            format!(
                "linked {} × {} records: {} candidate pairs, {} links at p ≥ {} (expected matches {:.0}) → {} in {:.2} s",
                out.stats.left_records,
                out.stats.right_records,
                out.stats.candidates,
                out.stats.links,
                args.threshold,
                out.stats.expected_matches,
                out_path.display(),
                started.elapsed().as_secs_f64()
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    let Some(dp) = &args.dedupe else {
        return Err(fail(
            exit::USAGE,
            "linking the identity vault is not available yet: give --left A.csv --right B.csv or --dedupe A.csv",
        ));
    };
    let dr = roles(dp, mapping.as_ref())?;
    let schema = Schema::from_roles(|r| dr.contains(&r));
    if schema.fields.is_empty() {
        return Err(fail(
            exit::INPUT,
            format!("{}: no comparable column", dp.display()),
        ));
    }
    let enc = Encoder::new(&key, schema);
    let src = tokenise(
        dp,
        mapping.as_ref(),
        &enc,
        &TokenCache::default(),
        args.strict,
    )?;
    let (t, inv) = (&src.table, &src.invalid);
    let (out, labels) = engine::dedupe(t, &opts).map_err(|e| fail(exit::INPUT, e.to_string()))?;
    write_whole(&out_path, |w| {
        let mut w = csv::Writer::from_writer(w);
        w.write_record(["id", "cluster_id"])
            .map_err(|e| e.to_string())?;
        let mut walker = src.ids.walker();
        for (i, label) in labels.iter().enumerate() {
            w.write_record([walker.id(i), &label.to_string()])
                .map_err(|e| e.to_string())?;
        }
        w.flush().map_err(|e| e.to_string())
    })?;
    if let Some(pp) = &args.pairs {
        let sides = Sides {
            lt: t,
            rt: t,
            left_ids: &src.ids,
            right_ids: &src.ids,
            header: ("id_1", "id_2"),
        };
        write_pairs(pp, &out, &sides, args.explain)?;
    }
    let clusters = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let json = serde_json::json!({
        "mode": "dedupe",
        "fields": t.schema().fields.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "invalid_values": inv,
        "clusters": clusters,
        "stats": out.stats,
        "seconds": started.elapsed().as_secs_f64(),
        "peak_rss_kib": crate::measure::peak_kib(),
        "out": out_path,
    });
    ctx.emit(&json, || {
        format!(
            "deduplicated {} records into {} clusters ({} links at p ≥ {}) → {} in {:.2} s",
            t.len(),
            clusters,
            out.stats.links,
            args.threshold,
            out_path.display(),
            started.elapsed().as_secs_f64()
        )
    });
    Ok(ExitCode::SUCCESS)
}
