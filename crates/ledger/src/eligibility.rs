//! The eligibility rule of the Act (design §3), as one pure function: may data of a person at a
//! provider be provided or used at time T?
//!
//! Yes only if the provider's 届出 is on record (filed on or before T), a notice to the person is
//! on record, T is at least `notice_wait_days` after the notice, and no stop request was
//! received at or before T. Calendar dates are Japanese: a date's day starts at 00:00 JST.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use tsunagu_model::{LocalPatientId, ProviderId};

use crate::time::{read_date, read_instant, start_of_day_jst};
use crate::{Error, Ledger, Result};

/// A provider's 届出.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    /// Date filed.
    pub date: NaiveDate,
}

/// Everything the rule looks at, in any order it was recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The provider's 届出, if on record.
    pub filing: Option<Filing>,
    /// The date of the notice to the person, if on record.
    pub notice: Option<NaiveDate>,
    /// When each stop request for the person was received.
    pub stops: Vec<DateTime<Utc>>,
}

/// Why the rule decided as it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    /// A stop request received at or before T.
    Stopped {
        /// Receipt time of the earliest stop request.
        since: DateTime<Utc>,
    },
    /// No 届出 on record for the provider.
    NoFiling,
    /// The 届出 was filed after T.
    FilingAfter {
        /// Filing date.
        date: NaiveDate,
    },
    /// No notice to the person on record.
    NoNotice,
    /// Notified, but the waiting period has not passed at T.
    Waiting {
        /// First instant at which the wait is over.
        until: DateTime<Utc>,
    },
    /// Every condition holds.
    Eligible {
        /// First instant from which the person is eligible (absent a stop request).
        since: DateTime<Utc>,
    },
}

/// The rule's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// May the data be provided or used?
    pub eligible: bool,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// A sentence for people, Japanese first, then English.
    pub fn explain(&self) -> String {
        let jst = |t: &DateTime<Utc>| {
            t.with_timezone(&crate::JST)
                .format("%Y-%m-%d %H:%M JST")
                .to_string()
        };
        match &self.reason {
            Reason::Stopped { since } => format!(
                "提供停止の求めを受領済み（{}） / a stop request was received at {}",
                jst(since),
                jst(since)
            ),
            Reason::NoFiling => {
                "提供者の届出が未登録 / the provider's 届出 (filing) is not on record".into()
            }
            Reason::FilingAfter { date } => format!(
                "届出日（{date}）より前の時点 / the time is before the provider's 届出 date {date}"
            ),
            Reason::NoNotice => {
                "本人への通知が未登録 / no notice to the person is on record".into()
            }
            Reason::Waiting { until } => format!(
                "通知後の待機期間中（{}まで） / the waiting period after the notice runs until {}",
                jst(until),
                jst(until)
            ),
            Reason::Eligible { since } => format!(
                "提供可（{}から） / eligible since {}",
                jst(since),
                jst(since)
            ),
        }
    }
}

/// Decide. Pure: the same facts, time and wait give the same answer, whatever order the facts
/// were recorded in.
pub fn decide(facts: &Facts, at: DateTime<Utc>, notice_wait_days: u32) -> Decision {
    let no = |reason| Decision {
        eligible: false,
        reason,
    };
    if let Some(first) = facts.stops.iter().filter(|s| **s <= at).min() {
        return no(Reason::Stopped { since: *first });
    }
    let Some(filing) = &facts.filing else {
        return no(Reason::NoFiling);
    };
    let filed = start_of_day_jst(filing.date);
    if filed > at {
        return no(Reason::FilingAfter { date: filing.date });
    }
    let Some(notice) = facts.notice else {
        return no(Reason::NoNotice);
    };
    let until = start_of_day_jst(notice) + TimeDelta::days(i64::from(notice_wait_days));
    if at < until {
        return no(Reason::Waiting { until });
    }
    Decision {
        eligible: true,
        reason: Reason::Eligible {
            since: until.max(filed),
        },
    }
}

/// Everything the rule needs for every person at one provider, loaded at once, for bulk work
/// (intake, extraction) where one query per person would be too slow.
#[derive(Debug, Clone, Default)]
pub struct ProviderFacts {
    filing: Option<Filing>,
    notices: std::collections::HashMap<String, NaiveDate>,
    stops: std::collections::HashMap<String, Vec<DateTime<Utc>>>,
    wait_days: u32,
}

impl ProviderFacts {
    /// The facts for one person, by the keyed hash of their local patient id.
    pub fn facts(&self, patient_hash: &str) -> Facts {
        Facts {
            filing: self.filing.clone(),
            notice: self.notices.get(patient_hash).copied(),
            stops: self.stops.get(patient_hash).cloned().unwrap_or_default(),
        }
    }

    /// Apply the rule for one person at `at`, with the store's waiting period.
    pub fn decide(&self, patient_hash: &str, at: DateTime<Utc>) -> Decision {
        decide(&self.facts(patient_hash), at, self.wait_days)
    }
}

impl Ledger {
    /// Load the facts for every person at a provider.
    pub async fn provider_facts(&self, provider: &ProviderId) -> Result<ProviderFacts> {
        use sqlx::Row;
        let p = self.provider(provider).await?;
        let mut out = ProviderFacts {
            filing: match (p.filing_date, p.filing_ref) {
                (Some(date), Some(_)) => Some(Filing { date }),
                _ => None,
            },
            wait_days: self.settings().await?.notice_wait_days,
            ..Default::default()
        };
        let rows =
            sqlx::query("SELECT patient_hash, notice_date FROM notices WHERE provider_id = $1")
                .bind(provider.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(Error::backend)?;
        for r in rows {
            let h: String = r.try_get("patient_hash").map_err(Error::backend)?;
            let d: String = r.try_get("notice_date").map_err(Error::backend)?;
            out.notices.insert(h, read_date("notice date", &d)?);
        }
        let rows = sqlx::query(
            "SELECT patient_hash, received_at FROM stop_requests WHERE provider_id = $1",
        )
        .bind(provider.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        for r in rows {
            let h: String = r.try_get("patient_hash").map_err(Error::backend)?;
            let t: String = r.try_get("received_at").map_err(Error::backend)?;
            out.stops
                .entry(h)
                .or_default()
                .push(read_instant("received_at", &t)?);
        }
        Ok(out)
    }

    /// Gather the facts for a person at a provider.
    pub async fn facts(&self, provider: &ProviderId, patient: &LocalPatientId) -> Result<Facts> {
        let p = self.provider(provider).await?;
        let hash = self.patient_hash(provider, patient);
        let notice: Option<String> = sqlx::query_scalar(
            "SELECT notice_date FROM notices WHERE provider_id = $1 AND patient_hash = $2",
        )
        .bind(provider.as_str())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::backend)?;
        let stops: Vec<String> = sqlx::query_scalar(
            "SELECT received_at FROM stop_requests WHERE provider_id = $1 AND patient_hash = $2",
        )
        .bind(provider.as_str())
        .bind(&hash)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::backend)?;
        Ok(Facts {
            filing: match (p.filing_date, p.filing_ref) {
                (Some(date), Some(_)) => Some(Filing { date }),
                _ => None,
            },
            notice: notice.map(|d| read_date("notice date", &d)).transpose()?,
            stops: stops
                .iter()
                .map(|s| read_instant("received_at", s))
                .collect::<Result<_>>()?,
        })
    }

    /// Apply the rule with the store's waiting period.
    pub async fn eligibility(
        &self,
        provider: &ProviderId,
        patient: &LocalPatientId,
        at: DateTime<Utc>,
    ) -> Result<Decision> {
        let facts = self.facts(provider, patient).await?;
        let settings = self.settings().await?;
        Ok(decide(&facts, at, settings.notice_wait_days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn facts() -> Facts {
        Facts {
            filing: Some(Filing {
                date: d("2025-01-10"),
            }),
            notice: Some(d("2025-03-01")),
            stops: vec![],
        }
    }

    #[test]
    fn each_rule_at_work() {
        let f = facts();
        // The wait ends at 00:00 JST thirty days after the notice: 2025-03-31T00:00+09:00.
        assert!(!decide(&f, t("2025-03-30T23:59:59+09:00"), 30).eligible);
        assert!(decide(&f, t("2025-03-31T00:00:00+09:00"), 30).eligible);
        assert_eq!(
            decide(&f, t("2025-03-30T14:59:59Z"), 30).reason,
            Reason::Waiting {
                until: t("2025-03-31T00:00:00+09:00")
            }
        );
        assert_eq!(
            decide(
                &Facts {
                    filing: None,
                    ..f.clone()
                },
                t("2026-01-01T00:00:00Z"),
                30
            )
            .reason,
            Reason::NoFiling
        );
        assert_eq!(
            decide(
                &Facts {
                    notice: None,
                    ..f.clone()
                },
                t("2026-01-01T00:00:00Z"),
                30
            )
            .reason,
            Reason::NoNotice
        );
        assert_eq!(
            decide(&f, t("2025-01-09T00:00:00Z"), 0).reason,
            Reason::FilingAfter {
                date: d("2025-01-10")
            }
        );
        let stopped = Facts {
            stops: vec![t("2025-06-01T10:00:00+09:00")],
            ..f
        };
        assert!(decide(&stopped, t("2025-06-01T09:59:59+09:00"), 30).eligible);
        // Effective on receipt: at the very instant, and ever after.
        assert!(!decide(&stopped, t("2025-06-01T10:00:00+09:00"), 30).eligible);
        assert!(!decide(&stopped, t("2030-01-01T00:00:00Z"), 30).eligible);
    }

    fn arb_facts() -> impl Strategy<Value = Facts> {
        (
            proptest::option::of(0i64..4000),
            proptest::option::of(0i64..4000),
            proptest::collection::vec(0i64..4000 * 24, 0..4),
        )
            .prop_map(|(filing, notice, stops)| {
                let base = d("2020-01-01");
                Facts {
                    filing: filing.map(|x| Filing {
                        date: base + TimeDelta::days(x),
                    }),
                    notice: notice.map(|x| base + TimeDelta::days(x)),
                    stops: stops
                        .into_iter()
                        .map(|h| start_of_day_jst(base) + TimeDelta::hours(h))
                        .collect(),
                }
            })
    }

    proptest! {
        /// Eligible exactly when every condition holds, checked from the definition.
        #[test]
        fn matches_the_definition(f in arb_facts(), hours in 0i64..4100 * 24, wait in 0u32..90) {
            let at = start_of_day_jst(d("2020-01-01")) + TimeDelta::hours(hours);
            let expected = f.filing.as_ref().is_some_and(|fl| start_of_day_jst(fl.date) <= at)
                && f.notice.is_some_and(|n| start_of_day_jst(n) + TimeDelta::days(i64::from(wait)) <= at)
                && f.stops.iter().all(|s| *s > at);
            prop_assert_eq!(decide(&f, at, wait).eligible, expected);
        }

        /// Facts recorded in any order give the same decision.
        #[test]
        fn order_of_recording_does_not_matter(f in arb_facts(), hours in 0i64..4100 * 24, seed in any::<u64>()) {
            let at = start_of_day_jst(d("2020-01-01")) + TimeDelta::hours(hours);
            let mut g = f.clone();
            let n = g.stops.len();
            if n > 1 {
                g.stops.rotate_left((seed as usize) % n);
                g.stops.reverse();
            }
            prop_assert_eq!(decide(&f, at, 30), decide(&g, at, 30));
        }

        /// A stop request never makes anyone eligible, and once stopped, stopped for good.
        #[test]
        fn stops_are_final(f in arb_facts(), hours in 0i64..4100 * 24, extra in 0i64..5000, later in 0i64..10_000) {
            let at = start_of_day_jst(d("2020-01-01")) + TimeDelta::hours(hours);
            let mut g = f.clone();
            g.stops.push(at - TimeDelta::hours(extra));
            prop_assert!(!decide(&g, at, 30).eligible);
            prop_assert!(!decide(&g, at + TimeDelta::hours(later), 30).eligible);
        }
    }
}
