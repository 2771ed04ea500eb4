//! SQL over the clinical lake with Apache DataFusion, and cohort extraction.
//!
//! This is the only crate that builds DataFusion: its compile time is large (design §8), so it
//! is kept behind one crate that only extraction uses.
//!
//! The lake's Parquet parts are scanned where they lie, decrypted file by file: each part is
//! bound to its table and part name by its AAD, so an [`EncryptionFactory`] derives the
//! decryption properties from the file's path through [`Lake::decryption_properties`].
//!
//! A query never sees the lake raw. [`LakeQuery::new`] takes the **gate**: the list of
//! person-at-provider ids (`psn-…`, the lake's `person_id`) that may be used at this moment,
//! each with the linked person id it belongs to. Every table is registered as a view that joins
//! its rows with the gate, so rows of anyone who is not eligible now are not there at all, and
//! `person_id` in every view is the linked person id. The tables and columns are the lake's
//! (`tsunagu_lake::Table`, documented in `crates/lake/src/tables.rs` and the README).
//!
//! A cohort file ([`LakeQuery::extract`]) is SQL: the first statement selects people (it must
//! return a `person_id` column); each further statement, optional, selects the events of one
//! table (it must return exactly that table's columns; `cohort` is then a table of the selected
//! `person_id`s). Tables without such a statement contribute all rows of the selected people.
//! Only queries are allowed: no DDL, DML, `COPY` or `SET`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::common::JoinType;
use datafusion::config::{EncryptionFactoryOptions, TableParquetOptions};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::parquet_encryption::EncryptionFactory;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, col};
use datafusion::sql::parser::DFParser;
use futures_util::StreamExt;
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use serde::{Deserialize, Serialize};
use tsunagu_lake::{Lake, LakeError, PartName, Person, Table, TableRow, schema_of};

const FACTORY_ID: &str = "tsunagu-lake";
/// Rows per extract part: large enough for good Parquet row groups, small enough that an
/// extract of millions of events never sits in memory whole.
const ROWS_PER_PART: usize = 200_000;

/// What went wrong. Names tables, statements and columns, never a value.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The lake could not be read or the extract written.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The cohort file is not what it must be.
    #[error("cohort SQL, statement {statement}: {why}")]
    Cohort {
        /// 1-based statement number.
        statement: usize,
        /// Why it was refused.
        why: String,
    },
    /// DataFusion failed to plan or run a query.
    #[error("query failed: {0}")]
    Engine(String),
    /// An I/O error on the extract.
    #[error("extract file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        // DataFusion's messages name columns, tables and SQL syntax; they never carry row values
        // except literals the cohort author wrote.
        QueryError::Engine(e.to_string())
    }
}

type Result<T> = std::result::Result<T, QueryError>;

/// Decrypts lake parts for DataFusion: the table and part come from the file's path.
#[derive(Debug)]
struct LakeDecryption {
    lake: Arc<Lake>,
}

#[async_trait]
impl EncryptionFactory for LakeDecryption {
    async fn get_file_encryption_properties(
        &self,
        _config: &EncryptionFactoryOptions,
        _schema: &SchemaRef,
        _file_path: &ObjectPath,
    ) -> datafusion::error::Result<Option<Arc<FileEncryptionProperties>>> {
        // Queries never write into the lake; extracts are written by `Lake` itself.
        Err(DataFusionError::Plan(
            "the lake is read-only to queries".to_owned(),
        ))
    }

    async fn get_file_decryption_properties(
        &self,
        _config: &EncryptionFactoryOptions,
        file_path: &ObjectPath,
    ) -> datafusion::error::Result<Option<Arc<FileDecryptionProperties>>> {
        let mut parts = file_path.parts().collect::<Vec<_>>();
        let file = parts.pop();
        let dir = parts.pop();
        let (Some(file), Some(dir)) = (file, dir) else {
            return Err(DataFusionError::Plan("not a lake part".to_owned()));
        };
        let table = Table::from_name(dir.as_ref())
            .ok_or_else(|| DataFusionError::Plan("not a lake table directory".to_owned()))?;
        let stem = file
            .as_ref()
            .strip_suffix(".parquet")
            .ok_or_else(|| DataFusionError::Plan("not a lake part".to_owned()))?;
        let part = PartName::parse(stem).map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let props = self
            .lake
            .decryption_properties(table, &part)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(Some(props))
    }
}

/// One person-at-provider admitted by the gate, and the linked person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The lake's `person_id` (the vault's internal id of the person-at-provider).
    pub subject: String,
    /// The linked person id (cluster id) the views show as `person_id`.
    pub person: String,
}

/// The lake as SQL, behind the gate.
pub struct LakeQuery {
    ctx: SessionContext,
}

impl std::fmt::Debug for LakeQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeQuery").finish_non_exhaustive()
    }
}

fn gate_batch(admitted: &[Admitted]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("gate_subject", DataType::Utf8, false),
        Field::new("gate_person", DataType::Utf8, false),
    ]));
    let subjects: ArrayRef = Arc::new(StringArray::from_iter_values(
        admitted.iter().map(|a| a.subject.as_str()),
    ));
    let persons: ArrayRef = Arc::new(StringArray::from_iter_values(
        admitted.iter().map(|a| a.person.as_str()),
    ));
    RecordBatch::try_new(schema, vec![subjects, persons])
        .map_err(|e| QueryError::Engine(e.to_string()))
}

impl LakeQuery {
    /// Register every lake table as a view behind the gate: only rows of `admitted`
    /// person-at-provider ids, with `person_id` replaced by their linked person id.
    pub async fn new(lake: Arc<Lake>, admitted: &[Admitted]) -> Result<LakeQuery> {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        runtime.register_parquet_encryption_factory(
            FACTORY_ID,
            Arc::new(LakeDecryption {
                lake: Arc::clone(&lake),
            }),
        );
        let config = SessionConfig::new().with_information_schema(false);
        let ctx = SessionContext::new_with_config_rt(config, runtime);

        let gate = gate_batch(admitted)?;
        let gate_table = MemTable::try_new(gate.schema(), vec![vec![gate]])?;
        let gate_df = ctx.read_table(Arc::new(gate_table))?;

        for table in Table::ALL {
            let schema = schema_of(table);
            let mut options = TableParquetOptions::default();
            options.crypto.factory_id = Some(FACTORY_ID.to_owned());
            let format = ParquetFormat::default().with_options(options);
            let listing = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
            let dir = lake.table_path(table);
            let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
            let config = ListingTableConfig::new(url)
                .with_listing_options(listing)
                .with_schema(Arc::clone(&schema));
            let raw = ctx.read_table(Arc::new(ListingTable::try_new(config)?))?;
            // Inner join with the gate: rows of anyone not admitted are gone before any user
            // SQL sees the table.
            let joined = raw.join(
                gate_df.clone(),
                JoinType::Inner,
                &["person_id"],
                &["gate_subject"],
                None,
            )?;
            let columns = schema
                .fields()
                .iter()
                .map(|f| {
                    if f.name() == "person_id" {
                        col("gate_person").alias("person_id")
                    } else {
                        col(format!("\"{}\"", f.name()))
                    }
                })
                .collect::<Vec<_>>();
            let view = joined.select(columns)?;
            ctx.register_table(table.name(), view.into_view())?;
        }
        Ok(LakeQuery { ctx })
    }

    fn options() -> datafusion::execution::context::SQLOptions {
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
    }

    /// Run one read-only query and collect its result (for small results: counts, checks).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let df = self.ctx.sql_with_options(sql, Self::options()).await?;
        Ok(df.collect().await?)
    }

    /// Run a cohort file and write the extract into `out` (an empty lake directory; the caller
    /// writes it under a temporary name and renames it when this returns).
    pub async fn extract(&self, cohort_sql: &str, out: &Lake) -> Result<ExtractSummary> {
        let statements = DFParser::parse_sql(cohort_sql).map_err(|e| QueryError::Cohort {
            statement: 1,
            why: e.to_string(),
        })?;
        if statements.is_empty() {
            return Err(QueryError::Cohort {
                statement: 1,
                why: "the file holds no statement".to_owned(),
            });
        }
        let mut frames = Vec::with_capacity(statements.len());
        let mut cohort_ids = Vec::new();
        for (i, st) in statements.iter().enumerate() {
            let df = self
                .ctx
                .sql_with_options(&st.to_string(), Self::options())
                .await
                .map_err(|e| QueryError::Cohort {
                    statement: i + 1,
                    why: e.to_string(),
                })?;
            frames.push(df);
            if i == 0 {
                // Later statements may use `cohort`; register it before planning them.
                let first = frames.remove(0);
                let people = self.cohort_people(first).await?;
                if let Some(ids) = string_column(&people, "person_id") {
                    cohort_ids = ids.iter().flatten().map(str::to_owned).collect();
                }
                let table = MemTable::try_new(people.schema(), vec![vec![people]])?;
                self.ctx.register_table("cohort", Arc::new(table))?;
            }
        }
        let mut per_table: HashMap<Table, DataFrame> = HashMap::new();
        for (i, df) in frames.into_iter().enumerate() {
            let n = i + 2;
            let table = Table::ALL
                .into_iter()
                .find(|t| same_columns(&schema_of(*t), df.schema().as_arrow()))
                .ok_or_else(|| QueryError::Cohort {
                    statement: n,
                    why: "an event statement must return exactly the columns of one lake table, in order".to_owned(),
                })?;
            if per_table.insert(table, df).is_some() {
                return Err(QueryError::Cohort {
                    statement: n,
                    why: format!("a second statement for table {}", table.name()),
                });
            }
        }

        let cohort = self.ctx.table("cohort").await?;
        let mut rows = BTreeMap::new();
        let mut persons_seen = 0u64;
        for table in Table::ALL {
            let base = match per_table.remove(&table) {
                Some(df) => df,
                None => self.ctx.table(table.name()).await?,
            };
            // Whatever the statement selected, only the cohort's people go out.
            let df = base.join(
                cohort
                    .clone()
                    .select(vec![col("person_id").alias("cohort_person")])?,
                JoinType::LeftSemi,
                &["person_id"],
                &["cohort_person"],
                None,
            )?;
            if table == Table::Persons {
                let batches = df.collect().await?;
                let persons = collapse_persons(&batches)?;
                persons_seen = persons.len() as u64;
                if !persons.is_empty() {
                    out.write_rows(&part_name(0)?, &persons)?;
                }
                rows.insert(table.name().to_owned(), persons_seen);
            } else {
                let n = write_stream(df, table, out).await?;
                rows.insert(table.name().to_owned(), n);
            }
        }
        Ok(ExtractSummary {
            persons: persons_seen,
            rows,
            cohort: cohort_ids,
        })
    }

    async fn cohort_people(&self, df: DataFrame) -> Result<RecordBatch> {
        let schema = df.schema().as_arrow().clone();
        let Ok(field) = schema.field_with_name("person_id") else {
            return Err(QueryError::Cohort {
                statement: 1,
                why: "the cohort statement must return a person_id column".to_owned(),
            });
        };
        if field.data_type() != &DataType::Utf8 {
            return Err(QueryError::Cohort {
                statement: 1,
                why: "person_id must be text".to_owned(),
            });
        }
        let batches = df
            .select(vec![col("person_id")])?
            .distinct()?
            .collect()
            .await?;
        let mut ids = BTreeSet::new();
        for b in &batches {
            let Some(a) = b.column(0).as_any().downcast_ref::<StringArray>() else {
                return Err(QueryError::Engine("person_id is not text".to_owned()));
            };
            for v in a.iter().flatten() {
                ids.insert(v.to_owned());
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "person_id",
            DataType::Utf8,
            false,
        )]));
        let col: ArrayRef = Arc::new(StringArray::from_iter_values(ids.iter()));
        RecordBatch::try_new(schema, vec![col]).map_err(|e| QueryError::Engine(e.to_string()))
    }
}

fn same_columns(want: &Schema, got: &Schema) -> bool {
    want.fields().len() == got.fields().len()
        && want
            .fields()
            .iter()
            .zip(got.fields().iter())
            .all(|(w, g)| w.name() == g.name() && w.data_type() == g.data_type())
}

fn part_name(i: usize) -> Result<PartName> {
    Ok(PartName::parse(&format!("extract-{i:06}"))?)
}

/// Re-stamp a batch with the lake schema (joins may loosen nullability; the data must still
/// satisfy it, which `RecordBatch::try_new` checks).
fn restamp(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    RecordBatch::try_new(schema_of(table), batch.columns().to_vec()).map_err(|e| {
        QueryError::Engine(format!(
            "table {}: result does not fit the lake schema: {e}",
            table.name()
        ))
    })
}

async fn write_stream(df: DataFrame, table: Table, out: &Lake) -> Result<u64> {
    let mut stream = df.execute_stream().await?;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0usize;
    let mut total = 0u64;
    let mut part = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        pending_rows += batch.num_rows();
        pending.push(restamp(table, &batch)?);
        if pending_rows >= ROWS_PER_PART {
            out.write_part_batches(table, &part_name(part)?, &pending)?;
            total += pending_rows as u64;
            part += 1;
            pending.clear();
            pending_rows = 0;
        }
    }
    if pending_rows > 0 {
        out.write_part_batches(table, &part_name(part)?, &pending)?;
        total += pending_rows as u64;
    }
    Ok(total)
}

/// One row per linked person: each field is the most frequent non-null value over the person's
/// provider rows, ties broken by the smallest value, so the result does not depend on the order
/// the scan returned rows in.
fn collapse_persons(batches: &[RecordBatch]) -> Result<Vec<Person>> {
    let mut by_person: BTreeMap<String, Vec<Person>> = BTreeMap::new();
    for b in batches {
        let b = restamp(Table::Persons, b)?;
        for p in Person::from_batch(&b)? {
            by_person
                .entry(p.person_id.as_str().to_owned())
                .or_default()
                .push(p);
        }
    }
    Ok(by_person
        .into_values()
        .filter_map(|mut rows| {
            rows.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
            let first = rows.first()?.clone();
            Some(Person {
                person_id: first.person_id.clone(),
                provider_id: first.provider_id.clone(),
                sex: mode(rows.iter().map(|r| Some(r.sex))).unwrap_or(first.sex),
                birth_month: mode(rows.iter().map(|r| r.birth_month)),
                deceased_date: mode(rows.iter().map(|r| r.deceased_date)),
                postal3: mode(rows.iter().map(|r| r.postal3)),
                municipality: mode(rows.iter().map(|r| r.municipality.clone())),
            })
        })
        .collect())
}

fn mode<T: Ord + Clone>(values: impl Iterator<Item = Option<T>>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values.flatten() {
        *counts.entry(v).or_default() += 1;
    }
    // Iteration is in ascending order, and `max_by_key` keeps the last maximum: reverse so that
    // the smallest value wins a tie.
    counts
        .into_iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v)
}

/// What an extract holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractSummary {
    /// Linked persons in the extract.
    pub persons: u64,
    /// Rows per table (persons: one per person).
    pub rows: BTreeMap<String, u64>,
    /// The linked person ids the cohort statement selected (sorted; all admitted, since the
    /// statement only sees gated views). The caller records them as the extract's members.
    #[serde(skip)]
    pub cohort: Vec<String>,
}

/// `extract.json`, written beside an extract's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractManifest {
    /// The extract's id.
    pub extract_id: String,
    /// When it was built (RFC 3339, UTC).
    pub created_at: String,
    /// Reference date for ages (the extract's date, Japan time).
    pub as_of: String,
    /// The cohort file as run.
    pub cohort_sql: String,
    /// SHA-256 of the cohort file.
    pub cohort_sql_sha256: String,
    /// Linked persons in the extract.
    pub persons: u64,
    /// Rows per table.
    pub rows: BTreeMap<String, u64>,
    /// Persons left out because a stop request covers one of their records.
    pub excluded_stopped: u64,
    /// Whether linkage had run: if not, each person-at-provider is a person of its own.
    pub linked: bool,
}

impl ExtractManifest {
    /// The manifest's file in an extract directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("extract.json")
    }

    /// Read an extract's manifest.
    pub fn read(dir: &Path) -> Result<ExtractManifest> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).map_err(|source| QueryError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| QueryError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })
    }
}

/// Check that an extract's id is a plain name that can be a directory and a ledger key.
pub fn valid_extract_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with(['-', '_'])
}

/// Column names of a batch's string column, for callers reading results of [`LakeQuery::query`].
pub fn string_column<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

#[cfg(test)]
mod tests;
