//! Bulk imports, each one transaction: all rows or none. Errors name the file, the row and the
//! field, never the value (a patient id is personal data).

use std::collections::HashMap;
use std::io::Read;

use serde::Serialize;
use tsunagu_model::{ProviderId, ProviderKind};

use crate::audit::{Append, head, rows_digest};
use crate::notices::{NewNotice, Recipient};
use crate::providers::NewProvider;
use crate::stops::{NewStop, Relationship, Requester, Via};
use crate::time::parse_instant;
use crate::{Actor, Error, Ledger, Result};

/// What an import wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Providers registered.
    pub providers: usize,
    /// Notices recorded.
    pub notices: usize,
    /// Stop requests recorded.
    pub stops: usize,
    /// The receipt number issued for each imported stop request, by line of `stops.csv`, to be
    /// passed back to the requesters.
    pub receipts: Vec<(usize, String)>,
}

/// One parsed row of a notice CSV.
pub type NoticeRow = NewNotice;

/// One CSV row: column name → value.
type Row = HashMap<String, String>;

/// Read a CSV with a header into maps of column → value, checking the required columns.
fn read_csv(file: &str, input: impl Read, required: &[&str]) -> Result<Vec<Row>> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| {
            Error::input(
                file.to_owned(),
                format!("cannot read the header: {}", csv_reason(&e)),
            )
        })?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    for r in required {
        if !headers.iter().any(|h| h == r) {
            return Err(Error::input(
                file.to_owned(),
                format!(
                    "missing column {r} (the header must have {})",
                    required.join(",")
                ),
            ));
        }
    }
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| Error::input(format!("{file}, line {line}"), csv_reason(&e)))?;
        rows.push(
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect(),
        );
    }
    Ok(rows)
}

/// The csv crate's messages can quote field contents; say only what kind of fault it is.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        csv::ErrorKind::Io(_) => "cannot be read".to_owned(),
        _ => "is not valid CSV".to_owned(),
    }
}

fn field<'a>(row: &'a HashMap<String, String>, name: &str) -> &'a str {
    row.get(name).map(String::as_str).unwrap_or("")
}

/// Prefix an error with where it happened.
fn at(file: &str, line: usize, name: &str) -> impl Fn(Error) -> Error {
    let place = format!("{file}, line {line}, field {name}");
    move |e| match e {
        Error::Input { why, .. } => Error::Input {
            what: place.clone(),
            why,
        },
        other => other,
    }
}

fn parse_notice(
    provider: ProviderId,
    row: &HashMap<String, String>,
    file: &str,
    line: usize,
) -> Result<NewNotice> {
    let recipient = match field(row, "recipient") {
        "" | "person" => Recipient::Person,
        "guardian" => Recipient::Guardian,
        _ => {
            return Err(Error::input(
                format!("{file}, line {line}, field recipient"),
                "must be person or guardian",
            ));
        }
    };
    let patient = tsunagu_model::LocalPatientId::parse(field(row, "patient"))
        .map_err(|e| Error::model(format!("{file}, line {line}, field patient"), e))?;
    let date =
        crate::time::parse_date("date", field(row, "date")).map_err(at(file, line, "date"))?;
    let channel =
        crate::Channel::parse(field(row, "channel")).map_err(at(file, line, "channel"))?;
    Ok(NewNotice {
        provider,
        patient,
        date,
        channel,
        recipient,
    })
}

impl Ledger {
    /// Import notices for one provider from CSV (`patient,date,channel[,recipient]`): all rows
    /// or none.
    pub async fn import_notices(
        &self,
        actor: &Actor,
        provider: &ProviderId,
        file: &str,
        input: impl Read,
    ) -> Result<usize> {
        let rows = read_csv(file, input, &["patient", "date", "channel"])?;
        let notices = rows
            .iter()
            .enumerate()
            .map(|(i, r)| parse_notice(provider.clone(), r, file, i + 2))
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.begin_write().await?;
        self.require_provider(&mut tx, provider).await?;
        let head = head(&mut tx).await?;
        for (i, n) in notices.iter().enumerate() {
            self.insert_notice(
                &mut tx,
                head.next(),
                n,
                Some(&format!("{file}, line {}", i + 2)),
            )
            .await?;
        }
        let digest = rows_digest(&mut tx, "notices", head.next()).await?;
        self.append(
            &mut tx,
            &head,
            actor,
            Append {
                action: "notice.import",
                object_type: "provider",
                object_id: provider.as_str(),
                details: serde_json::json!({ "file": file, "count": notices.len(), "rows": [digest] }),
            },
        )
        .await?;
        tx.commit().await.map_err(Error::backend)?;
        Ok(notices.len())
    }

    /// Import a ledger directory as `tsunagu synth` writes it: `providers.csv`
    /// (`code,kind,name,address,representative,filing_date,filing_ref`), `notices.csv`
    /// (`provider_code,patient,date,channel`) and `stops.csv`
    /// (`provider_code,patient,requester,relationship,received_at`), in one transaction.
    pub async fn import_ledger_dir(
        &self,
        actor: &Actor,
        dir: &std::path::Path,
    ) -> Result<ImportSummary> {
        let open = |name: &str| -> Result<Option<std::fs::File>> {
            match std::fs::File::open(dir.join(name)) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(_) => Err(Error::input(name.to_owned(), "cannot be read")),
            }
        };
        let Some(pf) = open("providers.csv")? else {
            return Err(Error::input(
                dir.join("providers.csv").display().to_string(),
                "not found: a ledger directory holds providers.csv, notices.csv and stops.csv",
            ));
        };
        let prow = read_csv(
            "providers.csv",
            pf,
            &[
                "code",
                "kind",
                "name",
                "address",
                "representative",
                "filing_date",
                "filing_ref",
            ],
        )?;
        let mut providers = Vec::with_capacity(prow.len());
        for (i, r) in prow.iter().enumerate() {
            let line = i + 2;
            let kind = ProviderKind::parse(field(r, "kind"))
                .map_err(|e| Error::model(format!("providers.csv, line {line}, field kind"), e))?;
            let opt = |n: &str| Some(field(r, n).to_owned()).filter(|s| !s.is_empty());
            providers.push(NewProvider {
                kind,
                code: field(r, "code").to_owned(),
                name: field(r, "name").to_owned(),
                address: field(r, "address").to_owned(),
                representative: field(r, "representative").to_owned(),
                filing_date: opt("filing_date"),
                filing_ref: opt("filing_ref"),
                contract_state: None,
            });
        }
        let notices_csv = match open("notices.csv")? {
            Some(f) => read_csv(
                "notices.csv",
                f,
                &["provider_code", "patient", "date", "channel"],
            )?,
            None => Vec::new(),
        };
        let stops_csv = match open("stops.csv")? {
            Some(f) => read_csv(
                "stops.csv",
                f,
                &[
                    "provider_code",
                    "patient",
                    "requester",
                    "relationship",
                    "received_at",
                ],
            )?,
            None => Vec::new(),
        };

        let mut tx = self.begin_write().await?;
        let mut by_code: HashMap<String, ProviderId> = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            let line = i + 2;
            let id = self
                .insert_provider(&mut tx, p)
                .await
                .map_err(|e| match e {
                    Error::Input { what, why } => Error::Input {
                        what: format!("providers.csv, line {line}, field {what}"),
                        why,
                    },
                    Error::Conflict(m) => {
                        Error::Conflict(format!("providers.csv, line {line}: {m}"))
                    }
                    other => other,
                })?;
            let h = head(&mut tx).await?;
            let rows = rows_digest(&mut tx, "providers", h.next()).await?;
            self.append(
                &mut tx,
                &h,
                actor,
                Append {
                    action: "provider.add",
                    object_type: "provider",
                    object_id: id.as_str(),
                    details: serde_json::json!({ "rows": [rows], "import": "providers.csv" }),
                },
            )
            .await?;
            if by_code.insert(p.code.trim().to_owned(), id).is_some() {
                return Err(Error::conflict(format!(
                    "providers.csv, line {line}: code listed twice; codes must be unique within an import"
                )));
            }
        }
        let resolve = |code: &str, file: &str, line: usize| -> Result<ProviderId> {
            by_code.get(code.trim()).cloned().ok_or_else(|| {
                Error::input(
                    format!("{file}, line {line}, field provider_code"),
                    "names no provider in providers.csv",
                )
            })
        };
        let h = head(&mut tx).await?;
        for (i, r) in notices_csv.iter().enumerate() {
            let line = i + 2;
            let provider = resolve(field(r, "provider_code"), "notices.csv", line)?;
            let n = parse_notice(provider, r, "notices.csv", line)?;
            self.insert_notice(
                &mut tx,
                h.next(),
                &n,
                Some(&format!("notices.csv, line {line}")),
            )
            .await?;
        }
        if !notices_csv.is_empty() {
            let rows = rows_digest(&mut tx, "notices", h.next()).await?;
            self.append(
                &mut tx,
                &h,
                actor,
                Append {
                    action: "notice.import",
                    object_type: "import",
                    object_id: "notices.csv",
                    details: serde_json::json!({ "count": notices_csv.len(), "rows": [rows] }),
                },
            )
            .await?;
        }
        let h = head(&mut tx).await?;
        let mut receipts = Vec::with_capacity(stops_csv.len());
        for (i, r) in stops_csv.iter().enumerate() {
            let line = i + 2;
            let place = |f: &str| format!("stops.csv, line {line}, field {f}");
            let provider = resolve(field(r, "provider_code"), "stops.csv", line)?;
            let patient = tsunagu_model::LocalPatientId::parse(field(r, "patient"))
                .map_err(|e| Error::model(place("patient"), e))?;
            let requester = Requester::parse(field(r, "requester")).map_err(at(
                "stops.csv",
                line,
                "requester",
            ))?;
            let relationship = match field(r, "relationship") {
                "" => None,
                s => Some(Relationship::parse(s).map_err(at("stops.csv", line, "relationship"))?),
            };
            let received_at = parse_instant("received_at", field(r, "received_at")).map_err(at(
                "stops.csv",
                line,
                "received_at",
            ))?;
            let s = NewStop {
                provider,
                patient,
                requester,
                relationship,
                received_at,
                via: Via::Provider,
            };
            let receipt = self
                .insert_stop(
                    &mut tx,
                    h.next(),
                    &s,
                    Some(&format!("stops.csv, line {line}")),
                )
                .await?;
            receipts.push((line, receipt.as_str().to_owned()));
        }
        if !stops_csv.is_empty() {
            let rows = rows_digest(&mut tx, "stop_requests", h.next()).await?;
            self.append(
                &mut tx,
                &h,
                actor,
                Append {
                    action: "stop.import",
                    object_type: "import",
                    object_id: "stops.csv",
                    details: serde_json::json!({ "count": stops_csv.len(), "rows": [rows] }),
                },
            )
            .await?;
        }
        tx.commit().await.map_err(Error::backend)?;
        Ok(ImportSummary {
            providers: providers.len(),
            notices: notices_csv.len(),
            stops: stops_csv.len(),
            receipts,
        })
    }
}
