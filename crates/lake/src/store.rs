//! The lake on disk: `<dir>/<table>/<part>.parquet`, every file encrypted with Parquet modular
//! encryption (AES-256-GCM, encrypted footer, one key per column), keys derived from the store
//! key, and written atomically.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::WriterProperties;
use tsunagu_model::StoreKey;

use crate::LakeError;
use crate::tables::{
    Checkup, Claim, Condition, Encounter, Medication, Observation, Person, Procedure, TableRow,
    check_schema,
};
use crate::values::{PartName, Table};

const PART_EXT: &str = ".parquet";
const TEMP_SUFFIX: &str = ".parquet.tmp";
/// Leading and trailing magic of a Parquet file whose footer is encrypted.
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// The Arrow schema of a table.
pub fn schema_of(table: Table) -> SchemaRef {
    match table {
        Table::Persons => Person::schema(),
        Table::Encounters => Encounter::schema(),
        Table::Conditions => Condition::schema(),
        Table::Medications => Medication::schema(),
        Table::Observations => Observation::schema(),
        Table::Procedures => Procedure::schema(),
        Table::Checkups => Checkup::schema(),
        Table::Claims => Claim::schema(),
    }
}

/// The keys of one lake: the footer key and one key per (table, column), all derived from the
/// store key with HKDF under `tsunagu/lake/…` labels. Separate column keys let a later reader be
/// given only the columns it may see (a cohort count needs no drug names).
struct Keys {
    footer: Vec<u8>,
    columns: BTreeMap<Table, Vec<(String, Vec<u8>)>>,
}

impl Keys {
    fn derive(store: &StoreKey) -> Keys {
        let columns = Table::ALL
            .into_iter()
            .map(|t| {
                let keys = schema_of(t)
                    .fields()
                    .iter()
                    .map(|f| {
                        let label = format!("tsunagu/lake/column/{}/{}/v1", t.name(), f.name());
                        (f.name().clone(), store.derive(&label).to_vec())
                    })
                    .collect();
                (t, keys)
            })
            .collect();
        Keys {
            footer: store.derive("tsunagu/lake/footer/v1").to_vec(),
            columns,
        }
    }

    fn columns(&self, table: Table) -> &[(String, Vec<u8>)] {
        self.columns.get(&table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The additional authenticated data binds a file to its place: a part copied to another
    /// table or renamed fails to decrypt instead of silently joining the wrong data. It is not
    /// stored in the file; the reader supplies it from the path.
    fn aad(table: Table, part: &PartName) -> Vec<u8> {
        format!("tsunagu-lake/v1/{}/{}", table.name(), part.as_str()).into_bytes()
    }

    fn encryption(
        &self,
        table: Table,
        part: &PartName,
    ) -> Result<Arc<FileEncryptionProperties>, ParquetError> {
        let mut b = FileEncryptionProperties::builder(self.footer.clone())
            .with_aad_prefix(Self::aad(table, part))
            .with_aad_prefix_storage(false);
        for (name, key) in self.columns(table) {
            b = b.with_column_key(name, key.clone());
        }
        b.build()
    }

    fn decryption(
        &self,
        table: Table,
        part: &PartName,
    ) -> Result<Arc<FileDecryptionProperties>, ParquetError> {
        let mut b = FileDecryptionProperties::builder(self.footer.clone())
            .with_aad_prefix(Self::aad(table, part));
        for (name, key) in self.columns(table) {
            b = b.with_column_key(name, key.clone());
        }
        b.build()
    }
}

/// The clinical lake: one directory per table, one encrypted Parquet file per part.
///
/// A lake has one writer at a time (the ingest run); readers may run alongside it and see
/// each part either whole or not at all.
pub struct Lake {
    dir: PathBuf,
    keys: Keys,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Make a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    // Directories cannot be opened for syncing on Windows; there the rename is as durable as
    // the file system makes it.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl Lake {
    /// Open the lake in `dir`, creating it and its table directories if needed.
    pub fn open(dir: impl Into<PathBuf>, key: &StoreKey) -> Result<Lake, LakeError> {
        let dir = dir.into();
        for t in Table::ALL {
            let d = dir.join(t.name());
            fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        Ok(Lake {
            dir,
            keys: Keys::derive(key),
        })
    }

    /// The lake's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn table_dir(&self, table: Table) -> PathBuf {
        self.dir.join(table.name())
    }

    fn part_path(&self, table: Table, part: &PartName) -> PathBuf {
        self.table_dir(table)
            .join(format!("{}{PART_EXT}", part.as_str()))
    }

    fn temp_path(&self, table: Table, part: &PartName) -> PathBuf {
        // Hidden and deterministic: readers never list it, and a crashed write leaves at most
        // one stale temp file per part, which the retried write truncates and reuses.
        self.table_dir(table)
            .join(format!(".{}{TEMP_SUFFIX}", part.as_str()))
    }

    /// Write `batch` as part `part` of `table`, replacing a part of that name if there is one.
    ///
    /// Atomic: the file is written to a hidden temp file in the same directory, synced, and
    /// renamed over the final name, so a crash at any point leaves either the old part or the
    /// new one, never a partial file. Choose `part` deterministically from the input (e.g. the
    /// source file's digest): re-running an interrupted ingest then overwrites instead of
    /// duplicating rows.
    pub fn write_part(
        &self,
        table: Table,
        part: &PartName,
        batch: &RecordBatch,
    ) -> Result<(), LakeError> {
        self.write_part_batches(table, part, std::slice::from_ref(batch))
    }

    /// [`Lake::write_part`] for several batches in one part.
    pub fn write_part_batches(
        &self,
        table: Table,
        part: &PartName,
        batches: &[RecordBatch],
    ) -> Result<(), LakeError> {
        let schema = schema_of(table);
        for b in batches {
            check_schema(table, &schema, b.schema_ref())?;
        }
        let tmp = self.temp_path(table, part);
        let result = self.write_temp(table, part, &schema, batches, &tmp);
        if result.is_err() {
            // Best effort: a leftover temp file is invisible to readers anyway.
            let _ = fs::remove_file(&tmp);
            return result;
        }
        let dst = self.part_path(table, part);
        fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
        sync_dir(&self.table_dir(table))
    }

    fn write_temp(
        &self,
        table: Table,
        part: &PartName,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        tmp: &Path,
    ) -> Result<(), LakeError> {
        let write_err = |source| LakeError::Write {
            table,
            part: part.clone(),
            source,
        };
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_created_by(concat!("tsunagu-lake ", env!("CARGO_PKG_VERSION")).to_owned())
            .with_file_encryption_properties(self.keys.encryption(table, part).map_err(write_err)?)
            .build();
        let file = File::create(tmp).map_err(io_err(tmp))?;
        let mut w =
            ArrowWriter::try_new(file, Arc::clone(schema), Some(props)).map_err(write_err)?;
        for b in batches {
            w.write(b).map_err(write_err)?;
        }
        let file = w.into_inner().map_err(write_err)?;
        file.sync_all().map_err(io_err(tmp))
    }

    /// The decryption properties of one part, for a reader other than [`Lake`] (the query crate's
    /// DataFusion scan). The file is bound to its table and part by the AAD, so a reader must ask
    /// per file; a part moved elsewhere still fails to decrypt.
    pub fn decryption_properties(
        &self,
        table: Table,
        part: &PartName,
    ) -> Result<Arc<FileDecryptionProperties>, LakeError> {
        self.keys
            .decryption(table, part)
            .map_err(|source| LakeError::Read {
                table,
                part: part.clone(),
                source,
            })
    }

    /// The file of a part (whether or not it exists).
    pub fn part_file(&self, table: Table, part: &PartName) -> PathBuf {
        self.part_path(table, part)
    }

    /// The directory of a table's parts.
    pub fn table_path(&self, table: Table) -> PathBuf {
        self.table_dir(table)
    }

    /// Remove a part; `false` if there was none.
    pub fn remove_part(&self, table: Table, part: &PartName) -> Result<bool, LakeError> {
        let path = self.part_path(table, part);
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.table_dir(table))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The parts of a table, sorted by name. Temp files of unfinished writes are not parts.
    pub fn parts(&self, table: Table) -> Result<Vec<PartName>, LakeError> {
        let dir = self.table_dir(table);
        let mut parts = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(PART_EXT)) else {
                continue;
            };
            // Temp files start with '.', which no part name does.
            if let Ok(p) = PartName::parse(stem) {
                parts.push(p);
            }
        }
        parts.sort();
        Ok(parts)
    }

    /// Open a part for reading. `with_page_index` also reads (and so authenticates) the page
    /// indexes, which the data read itself never touches.
    fn open_part(
        &self,
        table: Table,
        part: &PartName,
        with_page_index: bool,
    ) -> Result<ParquetRecordBatchReaderBuilder<File>, LakeError> {
        let read_err = |source| LakeError::Read {
            table,
            part: part.clone(),
            source,
        };
        let path = self.part_path(table, part);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        // The reader works from the footer and never looks at the leading magic, the only bytes
        // of an encrypted file that no GCM tag covers; check it so that every byte counts.
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .map_err(|e| read_err(ParquetError::External(Box::new(e))))?;
        if &magic != ENCRYPTED_MAGIC {
            return Err(read_err(ParquetError::General(
                "not a Parquet file with an encrypted footer".to_owned(),
            )));
        }
        let mut options = ArrowReaderOptions::new()
            .with_file_decryption_properties(self.keys.decryption(table, part).map_err(read_err)?);
        if with_page_index {
            options = options.with_page_index_policy(PageIndexPolicy::Required);
        }
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options)
            .map_err(read_err)?;
        check_schema(table, &schema_of(table), builder.schema())?;
        Ok(builder)
    }

    /// The batches of one part, decrypted.
    pub fn read_part(&self, table: Table, part: &PartName) -> Result<Vec<RecordBatch>, LakeError> {
        let reader = self
            .open_part(table, part, true)?
            .build()
            .map_err(|source| LakeError::Read {
                table,
                part: part.clone(),
                source,
            })?;
        reader
            .map(|b| {
                b.map_err(|e| LakeError::Read {
                    table,
                    part: part.clone(),
                    source: ParquetError::ArrowError(e.to_string()),
                })
            })
            .collect()
    }

    /// Every batch of a table, part by part in name order, decrypted.
    pub fn read_table(&self, table: Table) -> Result<Vec<RecordBatch>, LakeError> {
        let mut out = Vec::new();
        for p in self.parts(table)? {
            out.extend(self.read_part(table, &p)?);
        }
        Ok(out)
    }

    /// Every row of a table, typed.
    pub fn read_rows<R: TableRow>(&self) -> Result<Vec<R>, LakeError> {
        let mut rows = Vec::new();
        for b in self.read_table(R::TABLE)? {
            rows.extend(R::from_batch(&b)?);
        }
        Ok(rows)
    }

    /// Encode `rows` and write them as one part of their table (see [`Lake::write_part`]).
    pub fn write_rows<R: TableRow>(&self, part: &PartName, rows: &[R]) -> Result<(), LakeError> {
        self.write_part(R::TABLE, part, &R::to_batch(rows)?)
    }

    /// Rows in a table, from the parts' footers (no data pages are read).
    pub fn row_count(&self, table: Table) -> Result<u64, LakeError> {
        let mut n = 0u64;
        for p in self.parts(table)? {
            let rows = self
                .open_part(table, &p, false)?
                .metadata()
                .file_metadata()
                .num_rows();
            n += u64::try_from(rows).map_err(|_| {
                LakeError::Internal("negative row count in a part footer".to_owned())
            })?;
        }
        Ok(n)
    }

    /// Rows in every table.
    pub fn row_counts(&self) -> Result<BTreeMap<Table, u64>, LakeError> {
        Table::ALL
            .into_iter()
            .map(|t| Ok((t, self.row_count(t)?)))
            .collect()
    }
}
