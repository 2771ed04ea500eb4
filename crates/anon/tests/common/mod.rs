//! Loading the ARX benchmark copies in `tests/data/` (tests may read files; the crate never does).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tsunagu_anon::{Dataset, Hierarchy};

pub fn data_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Header and rows of a `;` CSV.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(path)
        .unwrap();
    let header = rdr.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// The dataset `name` with every attribute that has a hierarchy as a quasi-identifier (column order), except
/// `sensitive`, which becomes the sensitive attribute.
pub fn load(name: &str, sensitive: Option<&str>) -> (Dataset, Vec<String>, Vec<Vec<String>>) {
    let dir = data_dir(name);
    let (header, rows) = read_csv(&dir.join(format!("{name}.csv")));
    let mut ds = Dataset::new(rows.len());
    for (j, col) in header.iter().enumerate() {
        let hpath = dir.join(format!("{name}_hierarchy_{col}.csv"));
        let values = rows.iter().map(|r| r[j].as_str());
        if Some(col.as_str()) == sensitive {
            let h = std::fs::read_to_string(&hpath)
                .ok()
                .map(|t| Hierarchy::parse_arx(col, &t).unwrap());
            ds.set_sensitive(col, values, h).unwrap();
        } else if let Ok(text) = std::fs::read_to_string(&hpath) {
            ds.add_quasi_identifier(col, Hierarchy::parse_arx(col, &text).unwrap(), values)
                .unwrap();
        }
    }
    (ds, header, rows)
}
