//! `tsunagu anonymize`: optimal (or heuristic) full-domain generalization of a CSV table under k-anonymity,
//! l-diversity and t-closeness with suppression, and δ-presence and k-map against a population table, using
//! ARX-format hierarchies. The engine is `tsunagu-anon`; this
//! module only reads and writes files.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde::ser::SerializeMap;
use tsunagu_anon::{
    AnonError, Dataset, DeltaPresence, Hierarchy, LDiversity, Metric, Population, PopulationModels,
    PrivacyModels, SearchConfig, Strategy, TCloseness, TDistance,
};

use crate::ctx::{Ctx, exit, fail};

/// Arguments of `tsunagu anonymize`.
#[derive(Args, Debug)]
pub struct AnonymizeArgs {
    /// Input CSV with a header line.
    pub input: PathBuf,
    /// Output CSV: every input column in order, quasi-identifiers generalized, suppressed records with `*`.
    #[arg(long)]
    pub out: PathBuf,
    /// Report (JSON).
    #[arg(long)]
    pub report: PathBuf,
    /// Field delimiter of the input (and output); detected from the header line when omitted.
    #[arg(long)]
    pub delimiter: Option<char>,
    /// Directory of ARX hierarchy files `<name>_hierarchy_<ATTR>.csv`; their attributes become quasi-identifiers.
    #[arg(long)]
    pub hierarchies: Option<PathBuf>,
    /// A hierarchy file for one attribute (repeatable; overrides --hierarchies).
    #[arg(long = "hierarchy", value_name = "ATTR=FILE")]
    pub hierarchy: Vec<String>,
    /// Quasi-identifiers (default: every attribute with a hierarchy, except the sensitive one).
    #[arg(long, value_delimiter = ',')]
    pub qi: Vec<String>,
    /// k of k-anonymity.
    #[arg(long)]
    pub k: Option<u32>,
    /// l of l-diversity (needs --sensitive).
    #[arg(long)]
    pub l: Option<f64>,
    /// The sensitive attribute of l-diversity and t-closeness.
    #[arg(long)]
    pub sensitive: Option<String>,
    /// Variant of l-diversity.
    #[arg(long, value_enum, default_value = "distinct")]
    pub l_variant: LVariant,
    /// c of recursive (c,l)-diversity.
    #[arg(long)]
    pub c: Option<f64>,
    /// t of t-closeness (needs --sensitive).
    #[arg(long)]
    pub t: Option<f64>,
    /// Ground distance of t-closeness (hierarchical needs a hierarchy for the sensitive attribute).
    #[arg(long, value_enum, default_value = "equal")]
    pub t_distance: TDistanceArg,
    /// Population table (CSV with the quasi-identifier columns, read with the same delimiter) of which the input
    /// is a subset; needed by --delta-min/--delta-max and --k-map.
    #[arg(long)]
    pub population: Option<PathBuf>,
    /// δmin of δ-presence: every released class holds at least this share of its population class (default 0
    /// when only --delta-max is given).
    #[arg(long)]
    pub delta_min: Option<f64>,
    /// δmax of δ-presence (default 1 when only --delta-min is given).
    #[arg(long)]
    pub delta_max: Option<f64>,
    /// k of k-map: every released class matches at least k population records.
    #[arg(long)]
    pub k_map: Option<u32>,
    /// Largest share of records that may be suppressed (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub suppression_limit: f64,
    /// Metric to minimize.
    #[arg(long, value_enum, default_value = "loss")]
    pub metric: MetricArg,
    /// Search strategy (default: optimal when the lattice has at most 2^26 transformations, else heuristic).
    #[arg(long, value_enum)]
    pub search: Option<SearchArg>,
    /// Time limit in seconds (heuristic default 30; optimal search stops and reports optimal=false).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the heuristic search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// l-diversity variants on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum LVariant {
    /// Distinct l-diversity.
    Distinct,
    /// Entropy l-diversity.
    Entropy,
    /// Recursive (c,l)-diversity.
    Recursive,
}

/// t-closeness distances on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TDistanceArg {
    /// Equal ground distance.
    Equal,
    /// Hierarchical ground distance.
    Hierarchical,
}

/// Metrics on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MetricArg {
    /// Loss.
    Loss,
    /// Non-uniform entropy (non-monotonic, ARX's default).
    Entropy,
    /// Non-uniform entropy, monotonic variant.
    EntropyMonotonic,
    /// Discernibility.
    Discernibility,
    /// Precision.
    Precision,
    /// Average equivalence class size.
    Aecs,
    /// Sum of levels.
    Height,
}

impl From<MetricArg> for Metric {
    fn from(m: MetricArg) -> Metric {
        match m {
            MetricArg::Loss => Metric::Loss,
            MetricArg::Entropy => Metric::Entropy,
            MetricArg::EntropyMonotonic => Metric::EntropyMonotonic,
            MetricArg::Discernibility => Metric::Discernibility,
            MetricArg::Precision => Metric::Precision,
            MetricArg::Aecs => Metric::Aecs,
            MetricArg::Height => Metric::Height,
        }
    }
}

/// Search strategies on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum SearchArg {
    /// Exhaustive with pruning.
    Optimal,
    /// Descent with restarts.
    Heuristic,
}

/// A CSV table held as strings.
pub struct Table {
    /// Header names.
    pub header: Vec<String>,
    /// Records.
    pub rows: Vec<Vec<String>>,
    /// The delimiter used.
    pub delimiter: u8,
}

fn detect_delimiter(path: &Path) -> anyhow::Result<u8> {
    let text = fs::read(path)
        .map_err(|e| fail(exit::INPUT, format!("{}: cannot read: {e}", path.display())))?;
    let first = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    let best = [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|&d| count(d))
        .unwrap_or(b',');
    Ok(if count(best) == 0 { b',' } else { best })
}

/// Read a CSV file with a header; a record with a different number of fields is an error naming its line.
pub fn read_table(path: &Path, delimiter: Option<char>) -> anyhow::Result<Table> {
    let delimiter = match delimiter {
        Some(c) if c.is_ascii() => c as u8,
        Some(_) => return Err(fail(exit::USAGE, "--delimiter must be an ASCII character")),
        None => detect_delimiter(path)?,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .map_err(|e| fail(exit::INPUT, format!("{}: cannot read: {e}", path.display())))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            fail(
                exit::INPUT,
                format!("{}: header: {}", path.display(), csv_reason(&e)),
            )
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| {
            fail(
                exit::INPUT,
                format!("{}: record {}: {}", path.display(), i + 1, csv_reason(&e)),
            )
        })?;
        if rec.len() != header.len() {
            let line = rec.position().map_or(0, |p| p.line());
            return Err(fail(
                exit::INPUT,
                format!(
                    "{}: record {} (line {line}): {} fields where the header has {}",
                    path.display(),
                    i + 1,
                    rec.len(),
                    header.len()
                ),
            ));
        }
        rows.push(rec.iter().map(str::to_owned).collect());
    }
    Ok(Table {
        header,
        rows,
        delimiter,
    })
}

/// The reason of a CSV error without the offending bytes (they may be personal data).
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_owned(),
        csv::ErrorKind::Io(err) => format!("I/O error: {err}"),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where {expected_len} were expected")
        }
        _ => "malformed CSV".to_owned(),
    }
}

/// Read the hierarchy files: every `*_hierarchy_<ATTR>.csv` in `dir`, then the explicit `ATTR=FILE` ones.
pub fn read_hierarchies(
    dir: Option<&Path>,
    explicit: &[String],
) -> anyhow::Result<HashMap<String, Hierarchy>> {
    let mut out = HashMap::new();
    let parse = |attr: &str, path: &Path| -> anyhow::Result<Hierarchy> {
        let text = fs::read_to_string(path).map_err(|e| {
            fail(
                exit::INPUT,
                format!("{}: cannot read hierarchy: {e}", path.display()),
            )
        })?;
        Hierarchy::parse_arx(attr, &text)
            .map_err(|e| fail(exit::INPUT, format!("{}: {e}", path.display())))
    };
    if let Some(dir) = dir {
        let entries = fs::read_dir(dir)
            .map_err(|e| fail(exit::INPUT, format!("{}: cannot list: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for path in files {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = name.strip_suffix(".csv") else {
                continue;
            };
            let Some(pos) = stem.find("_hierarchy_") else {
                continue;
            };
            let attr = &stem[pos + "_hierarchy_".len()..];
            if attr.is_empty() {
                continue;
            }
            out.insert(attr.to_owned(), parse(attr, &path)?);
        }
    }
    for spec in explicit {
        let (attr, file) = spec.split_once('=').ok_or_else(|| {
            fail(
                exit::USAGE,
                format!("--hierarchy {spec}: expected ATTR=FILE"),
            )
        })?;
        out.insert(attr.to_owned(), parse(attr, Path::new(file))?);
    }
    Ok(out)
}

/// Map engine errors to exit codes.
pub fn anon_fail(e: AnonError) -> anyhow::Error {
    let code = match e {
        AnonError::NoSolution => exit::VERIFY,
        AnonError::Config(_) | AnonError::LatticeTooLarge { .. } | AnonError::NoQuasiIdentifier => {
            exit::USAGE
        }
        _ => exit::INPUT,
    };
    fail(code, e.to_string())
}

/// Build the engine's dataset: quasi-identifiers in the file's column order.
pub fn build_dataset(
    table: &Table,
    hierarchies: &mut HashMap<String, Hierarchy>,
    qi: &[String],
    sensitive: Option<&str>,
) -> anyhow::Result<(Dataset, Vec<usize>)> {
    for name in qi.iter().map(String::as_str).chain(sensitive) {
        if !table.header.iter().any(|h| h == name) {
            return Err(fail(
                exit::USAGE,
                format!("attribute {name} is not a column of the input"),
            ));
        }
    }
    for name in qi {
        if !hierarchies.contains_key(name) {
            return Err(fail(
                exit::USAGE,
                format!("quasi-identifier {name} has no hierarchy"),
            ));
        }
        if Some(name.as_str()) == sensitive {
            return Err(fail(
                exit::USAGE,
                format!("{name} cannot be both sensitive and a quasi-identifier"),
            ));
        }
    }
    let mut ds = Dataset::new(table.rows.len());
    let mut qi_cols = Vec::new();
    for (j, col) in table.header.iter().enumerate() {
        let is_qi = if qi.is_empty() {
            hierarchies.contains_key(col) && Some(col.as_str()) != sensitive
        } else {
            qi.contains(col)
        };
        if is_qi {
            let h = hierarchies
                .get(col)
                .cloned()
                .ok_or_else(|| fail(exit::USAGE, format!("{col}: no hierarchy")))?;
            ds.add_quasi_identifier(col, h, table.rows.iter().map(|r| r[j].as_str()))
                .map_err(anon_fail)?;
            qi_cols.push(j);
        }
    }
    if let Some(s) = sensitive {
        let j = table.header.iter().position(|h| h == s).unwrap_or(0);
        ds.set_sensitive(
            s,
            table.rows.iter().map(|r| r[j].as_str()),
            hierarchies.remove(s),
        )
        .map_err(anon_fail)?;
    }
    if qi_cols.is_empty() {
        return Err(anon_fail(AnonError::NoQuasiIdentifier));
    }
    Ok((ds, qi_cols))
}

/// Privacy models from the arguments.
fn models(args: &AnonymizeArgs) -> anyhow::Result<PrivacyModels> {
    let l_diversity = match args.l {
        None => None,
        Some(l) => Some(match args.l_variant {
            LVariant::Distinct => {
                if l.fract() != 0.0 || l < 1.0 {
                    return Err(fail(
                        exit::USAGE,
                        "--l must be a whole number ≥ 1 for distinct l-diversity",
                    ));
                }
                LDiversity::Distinct { l: l as u32 }
            }
            LVariant::Entropy => LDiversity::Entropy { l },
            LVariant::Recursive => {
                let c = args
                    .c
                    .ok_or_else(|| fail(exit::USAGE, "recursive l-diversity needs --c"))?;
                if l.fract() != 0.0 || l < 1.0 {
                    return Err(fail(
                        exit::USAGE,
                        "--l must be a whole number ≥ 1 for recursive (c,l)-diversity",
                    ));
                }
                LDiversity::Recursive { c, l: l as u32 }
            }
        }),
    };
    let t_closeness = args.t.map(|t| TCloseness {
        t,
        distance: match args.t_distance {
            TDistanceArg::Equal => TDistance::Equal,
            TDistanceArg::Hierarchical => TDistance::Hierarchical,
        },
    });
    if (l_diversity.is_some() || t_closeness.is_some()) && args.sensitive.is_none() {
        return Err(fail(exit::USAGE, "--l and --t need --sensitive"));
    }
    if args.k.is_none()
        && l_diversity.is_none()
        && t_closeness.is_none()
        && args.delta_min.is_none()
        && args.delta_max.is_none()
        && args.k_map.is_none()
    {
        return Err(fail(
            exit::USAGE,
            "no privacy model: give --k, --l, --t, --delta-min/--delta-max or --k-map",
        ));
    }
    Ok(PrivacyModels {
        k: args.k.unwrap_or(1),
        l_diversity,
        t_closeness,
        suppression_limit: args.suppression_limit,
    })
}

/// δ-presence and k-map from the arguments; `None` without --population.
fn population_models(args: &AnonymizeArgs) -> anyhow::Result<Option<PopulationModels>> {
    let delta_presence = match (args.delta_min, args.delta_max) {
        (None, None) => None,
        (lo, hi) => Some(DeltaPresence {
            delta_min: lo.unwrap_or(0.0),
            delta_max: hi.unwrap_or(1.0),
        }),
    };
    let pm = PopulationModels {
        delta_presence,
        k_map: args.k_map,
    };
    match (&args.population, pm.is_empty()) {
        (None, true) => Ok(None),
        (None, false) => Err(fail(
            exit::USAGE,
            "--delta-min, --delta-max and --k-map need --population",
        )),
        (Some(_), true) => Err(fail(
            exit::USAGE,
            "--population needs a model to check against it: --delta-min/--delta-max or --k-map",
        )),
        (Some(_), false) => {
            pm.validate().map_err(anon_fail)?;
            Ok(Some(pm))
        }
    }
}

/// Encode the population table with the hierarchies of the data's quasi-identifiers.
fn read_population(path: &Path, delimiter: u8, ds: &Dataset) -> anyhow::Result<Population> {
    let table = read_table(path, Some(char::from(delimiter)))?;
    Population::encode(ds, table.rows.len(), |name| {
        let j = table.header.iter().position(|h| h == name)?;
        Some(table.rows.iter().map(move |r| r[j].as_str()))
    })
    .map_err(|e| fail_population(path, e))
}

/// Population errors name the population file; usage errors stay usage errors.
fn fail_population(path: &Path, e: AnonError) -> anyhow::Error {
    let code = match e {
        AnonError::Config(_) => exit::USAGE,
        _ => exit::INPUT,
    };
    fail(code, format!("{}: {e}", path.display()))
}

/// The privacy models as reported: the engine's, plus those checked against the population.
#[derive(Serialize)]
struct ModelsReport<'a> {
    #[serde(flatten)]
    models: &'a PrivacyModels,
    delta_presence: Option<DeltaPresence>,
    k_map: Option<u32>,
}

/// Population figures of the chosen transformation's released classes.
#[derive(Serialize)]
struct PopulationReport {
    file: String,
    records: usize,
    /// Smallest and largest δ of a released class (`null` when every record is suppressed).
    min_delta: Option<f64>,
    max_delta: Option<f64>,
    /// Fewest population records in the class of a released record.
    min_population_class_size: Option<u32>,
}

struct Levels<'a>(&'a [String], &'a [u8]);

impl Serialize for Levels<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (n, l) in self.0.iter().zip(self.1) {
            m.serialize_entry(n, l)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Report<'a> {
    input: String,
    output: String,
    records: usize,
    quasi_identifiers: &'a [String],
    sensitive: Option<&'a str>,
    transformation: Levels<'a>,
    hierarchy_heights: Levels<'a>,
    metric: Metric,
    score: f64,
    suppressed_records: u64,
    equivalence_classes: u64,
    min_class_size: u32,
    optimal: bool,
    search: &'static str,
    transformations_checked: u64,
    lattice_size: String,
    elapsed_ms: f64,
    privacy_models: ModelsReport<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    population: Option<PopulationReport>,
}

/// Run `tsunagu anonymize`.
pub fn run(ctx: &Ctx, args: AnonymizeArgs) -> anyhow::Result<ExitCode> {
    let models = models(&args)?;
    let pop_models = population_models(&args)?;
    let metric: Metric = args.metric.into();
    let table = read_table(&args.input, args.delimiter)?;
    let mut hierarchies = read_hierarchies(args.hierarchies.as_deref(), &args.hierarchy)?;
    let (ds, qi_cols) = build_dataset(
        &table,
        &mut hierarchies,
        &args.qi,
        args.sensitive.as_deref(),
    )?;
    let population = match (&args.population, &pop_models) {
        (Some(path), Some(_)) => Some(read_population(path, table.delimiter, &ds)?),
        _ => None,
    };
    let lattice: u128 = ds.heights().iter().map(|&h| h as u128).product();
    let strategy = match args.search {
        Some(SearchArg::Optimal) => Strategy::Optimal,
        Some(SearchArg::Heuristic) => Strategy::Heuristic,
        None if lattice <= tsunagu_anon::search::MAX_OPTIMAL_LATTICE => Strategy::Optimal,
        None => Strategy::Heuristic,
    };
    let time_limit = match args.time_limit {
        Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
        Some(_) => {
            return Err(fail(
                exit::USAGE,
                "--time-limit must be a positive number of seconds",
            ));
        }
        None if strategy == Strategy::Heuristic => Some(Duration::from_secs(30)),
        None => None,
    };
    let config = SearchConfig {
        strategy,
        metric,
        time_limit,
        max_evaluations: None,
        seed: args.seed,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .map_err(|e| fail(exit::FAILURE, format!("thread pool: {e}")))?;
    let no_solution = |e: AnonError| match (&e, &pop_models) {
        (AnonError::NoSolution, Some(pm)) => fail(
            exit::VERIFY,
            format!(
                "{e}: {} (suppression limit {})",
                describe(&models, pm),
                models.suppression_limit
            ),
        ),
        _ => anon_fail(e),
    };
    let (outcome, (eval, suppressed)) = match (&population, &pop_models) {
        (Some(p), Some(pm)) => {
            let outcome = pool
                .install(|| tsunagu_anon::search_population(&ds, &models, p, pm, &config))
                .map_err(no_solution)?;
            let applied = pool
                .install(|| {
                    tsunagu_anon::apply_population(
                        &ds,
                        &models,
                        p,
                        pm,
                        metric,
                        &outcome.best.levels,
                    )
                })
                .map_err(anon_fail)?;
            (outcome, applied)
        }
        _ => {
            let outcome = pool
                .install(|| tsunagu_anon::search(&ds, &models, &config))
                .map_err(anon_fail)?;
            let applied = pool
                .install(|| tsunagu_anon::apply(&ds, &models, metric, &outcome.best.levels))
                .map_err(anon_fail)?;
            (outcome, applied)
        }
    };
    write_output(&args.out, &table, &ds, &qi_cols, &eval.levels, &suppressed)?;

    let names: Vec<String> = ds
        .quasi_identifiers()
        .iter()
        .map(|q| q.name.clone())
        .collect();
    let heights: Vec<u8> = ds.heights().iter().map(|&h| h as u8).collect();
    let report = Report {
        input: args.input.display().to_string(),
        output: args.out.display().to_string(),
        records: ds.records(),
        quasi_identifiers: &names,
        sensitive: args.sensitive.as_deref(),
        transformation: Levels(&names, &eval.levels),
        hierarchy_heights: Levels(&names, &heights),
        metric,
        score: eval.score,
        suppressed_records: eval.suppressed,
        equivalence_classes: eval.classes,
        min_class_size: eval.min_class_size,
        optimal: outcome.optimal,
        search: if strategy == Strategy::Optimal {
            "optimal"
        } else {
            "heuristic"
        },
        transformations_checked: outcome.transformations_checked,
        lattice_size: outcome.lattice_size.to_string(),
        elapsed_ms: outcome.elapsed.as_secs_f64() * 1000.0,
        privacy_models: ModelsReport {
            models: &models,
            delta_presence: pop_models.as_ref().and_then(|p| p.delta_presence),
            k_map: pop_models.as_ref().and_then(|p| p.k_map),
        },
        population: match (&args.population, &population) {
            (Some(path), Some(p)) => Some(PopulationReport {
                file: path.display().to_string(),
                records: p.records(),
                min_delta: eval.population.map(|s| s.min_delta),
                max_delta: eval.population.map(|s| s.max_delta),
                min_population_class_size: eval.population.map(|s| s.min_population_class_size),
            }),
            _ => None,
        },
    };
    let json = serde_json::to_string_pretty(&report)?;
    fs::write(&args.report, format!("{json}\n")).map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{}: cannot write: {e}", args.report.display()),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&json)?;
    ctx.emit(&value, || {
        let levels: Vec<String> = names.iter().zip(&eval.levels).map(|(n, l)| format!("{n}={l}")).collect();
        format!(
            "{} transformation {} score {} suppressed {} of {} records, {} classes (smallest {}), {} transformations checked in {:.0} ms",
            if outcome.optimal { "optimal" } else { "best found (not proven optimal):" },
            levels.join(" "),
            eval.score,
            eval.suppressed,
            ds.records(),
            eval.classes,
            eval.min_class_size,
            outcome.transformations_checked,
            outcome.elapsed.as_secs_f64() * 1000.0,
        ) + &eval.population.map_or(String::new(), |p| {
            format!(
                "; population: δ {} to {}, smallest population class {}",
                p.min_delta, p.max_delta, p.min_population_class_size
            )
        })
    });
    Ok(ExitCode::SUCCESS)
}

/// The models in words, for the message when nothing satisfies them.
fn describe(models: &PrivacyModels, pm: &PopulationModels) -> String {
    let mut parts = Vec::new();
    if models.k > 1 {
        parts.push(format!("{}-anonymity", models.k));
    }
    if models.l_diversity.is_some() {
        parts.push("l-diversity".to_owned());
    }
    if let Some(t) = models.t_closeness {
        parts.push(format!("{}-closeness", t.t));
    }
    if let Some(d) = pm.delta_presence {
        parts.push(format!(
            "δ-presence with δ in [{}, {}] of the population class",
            d.delta_min, d.delta_max
        ));
    }
    if let Some(k) = pm.k_map {
        parts.push(format!(
            "{k}-map (at least {k} population records per class)"
        ));
    }
    format!("no generalization meets {}", parts.join(", "))
}

fn write_output(
    path: &Path,
    table: &Table,
    ds: &Dataset,
    qi_cols: &[usize],
    levels: &[u8],
    suppressed: &[bool],
) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(table.delimiter)
        .from_path(path)
        .map_err(|e| {
            fail(
                exit::FAILURE,
                format!("{}: cannot write: {e}", path.display()),
            )
        })?;
    let werr = |e: csv::Error| {
        fail(
            exit::FAILURE,
            format!("{}: cannot write: {e}", path.display()),
        )
    };
    w.write_record(&table.header).map_err(werr)?;
    let mut qi_of_col = vec![None; table.header.len()];
    for (q, &c) in qi_cols.iter().enumerate() {
        qi_of_col[c] = Some(q);
    }
    let mut out: Vec<&str> = Vec::with_capacity(table.header.len());
    for (r, row) in table.rows.iter().enumerate() {
        out.clear();
        for (c, v) in row.iter().enumerate() {
            out.push(match qi_of_col[c] {
                Some(_) if suppressed[r] => "*",
                Some(q) => ds.generalized(q, r, levels[q] as usize),
                None => v,
            });
        }
        w.write_record(&out).map_err(werr)?;
    }
    w.flush().map_err(|e| {
        fail(
            exit::FAILURE,
            format!("{}: cannot write: {e}", path.display()),
        )
    })?;
    Ok(())
}
