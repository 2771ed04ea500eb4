//! What to generate: population size, seed, period, formats, and how messy providers' identity
//! records are.

use chrono::NaiveDate;

use crate::Error;

/// Output formats besides the always-written `ledger/` and `truth/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `csv/`: one flat file per record kind.
    Csv,
    /// `fhir/`: FHIR R4 (JP Core) transaction Bundles and NDJSON.
    Fhir,
    /// `ssmix2/`: SS-MIX2 standardized storage (HL7 v2.5, ISO-2022-JP).
    Ssmix2,
}

impl Format {
    /// Parse `csv`, `fhir` or `ssmix2`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "fhir" => Ok(Format::Fhir),
            "ssmix2" | "ss-mix2" => Ok(Format::Ssmix2),
            _ => Err(Error::Config(
                "format must be one of csv, fhir, ssmix2".into(),
            )),
        }
    }
}

/// Everything that decides the output. Equal configs give byte-identical output.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of persons.
    pub persons: u64,
    /// The seed of every random choice.
    pub seed: u64,
    /// Number of providers; `None` chooses `max(14, persons / 100)`.
    pub providers: Option<u32>,
    /// First day of the simulated period.
    pub start: NaiveDate,
    /// Last day of the simulated period (inclusive).
    pub end: NaiveDate,
    /// Formats to write (ledger and truth are always written).
    pub formats: Vec<Format>,
    /// Identity noise.
    pub noise: NoiseConfig,
    /// Share of patients-at-provider who were notified (the rest never got a notice).
    pub notice_rate: f64,
    /// Share of persons who ask to stop provision (提供停止の求め) during the period.
    pub stop_rate: f64,
    /// Persons per parallel work unit.
    pub chunk: usize,
}

impl Config {
    /// Defaults for `persons` persons and `seed`: ten years 2016–2025, all formats.
    pub fn new(persons: u64, seed: u64) -> Self {
        Config {
            persons,
            seed,
            providers: None,
            start: NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or_default(),
            end: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default(),
            formats: vec![Format::Csv, Format::Fhir, Format::Ssmix2],
            noise: NoiseConfig::default(),
            notice_rate: 0.95,
            stop_rate: 0.001,
            chunk: 256,
        }
    }

    /// Reject inconsistent settings.
    pub fn validate(&self) -> Result<(), Error> {
        if self.end <= self.start {
            return Err(Error::Config("end must be after start".into()));
        }
        if self.start < NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
            || self.end > NaiveDate::from_ymd_opt(2200, 1, 1).unwrap_or_default()
        {
            return Err(Error::Config(
                "the period must lie between 1950 and 2200".into(),
            ));
        }
        if self.persons == 0 || self.persons > 100_000_000 {
            return Err(Error::Config(
                "persons must be between 1 and 100,000,000".into(),
            ));
        }
        if let Some(p) = self.providers
            && p < 7
        {
            return Err(Error::Config(
                "providers must be at least 7 (one of every kind)".into(),
            ));
        }
        if self.chunk == 0 {
            return Err(Error::Config("chunk must be positive".into()));
        }
        for (name, v) in self.noise.rates().into_iter().chain([
            ("notice_rate", self.notice_rate),
            ("stop_rate", self.stop_rate),
        ]) {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Config(format!("{name} must be between 0 and 1")));
            }
        }
        if self.noise.half_width_kana_providers + self.noise.hiragana_providers > 1.0 {
            return Err(Error::Config(
                "half_width_kana_providers + hiragana_providers must not exceed 1".into(),
            ));
        }
        Ok(())
    }

    /// The number of providers to generate.
    pub fn provider_count(&self) -> u32 {
        self.providers
            .unwrap_or_else(|| (self.persons / 100).clamp(14, 50_000) as u32)
    }

    /// Whether `f` is to be written.
    pub fn wants(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }
}

/// How providers hold identities. Provider-level rates say which share of providers has a
/// habit (their whole file shows it); record-level rates apply to each patient-at-provider.
#[derive(Debug, Clone)]
pub struct NoiseConfig {
    /// Providers that store kana in half-width katakana (ｻﾄｳ). Default 0.25.
    pub half_width_kana_providers: f64,
    /// Providers that store kana in hiragana (さとう). Default 0.15.
    pub hiragana_providers: f64,
    /// Providers that write birth dates in the Japanese era (昭和45年1月1日, S45.01.01). Default 0.15.
    pub era_birth_date_providers: f64,
    /// Providers that write digits (postal code, address, phone) full-width. Default 0.2.
    pub full_width_digit_providers: f64,
    /// Records where a name character with an old/variant form (高/髙, 崎/﨑, 辺/邊 …) is written
    /// in the other form. Default 0.3 (of records whose name has such a character).
    pub variant_kanji: f64,
    /// Records with a stray space inside a name (佐　藤, padded for alignment). Default 0.03.
    pub space_in_name: f64,
    /// Records with a typo in the given name (another kanji spelling of the same reading, or a
    /// kana slip such as ッ→ツ). Default 0.02.
    pub name_typo: f64,
    /// Records with a typo in the birth date (day off by one, or month and day swapped). Default 0.005.
    pub birth_date_typo: f64,
    /// Records without a phone number although the person has one. Default 0.15.
    pub missing_phone: f64,
    /// Records that keep the address from first contact after the person moved. Default 0.4.
    pub outdated_address: f64,
    /// Records that keep the family name from before a marriage. Default 0.3.
    pub outdated_family_name: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        NoiseConfig {
            half_width_kana_providers: 0.25,
            hiragana_providers: 0.15,
            era_birth_date_providers: 0.15,
            full_width_digit_providers: 0.2,
            variant_kanji: 0.3,
            space_in_name: 0.03,
            name_typo: 0.02,
            birth_date_typo: 0.005,
            missing_phone: 0.15,
            outdated_address: 0.4,
            outdated_family_name: 0.3,
        }
    }
}

impl NoiseConfig {
    /// No noise at all: every provider holds the true identity as of its last contact.
    pub fn none() -> Self {
        NoiseConfig {
            half_width_kana_providers: 0.0,
            hiragana_providers: 0.0,
            era_birth_date_providers: 0.0,
            full_width_digit_providers: 0.0,
            variant_kanji: 0.0,
            space_in_name: 0.0,
            name_typo: 0.0,
            birth_date_typo: 0.0,
            missing_phone: 0.0,
            outdated_address: 0.0,
            outdated_family_name: 0.0,
        }
    }

    fn rates(&self) -> [(&'static str, f64); 11] {
        [
            ("half_width_kana_providers", self.half_width_kana_providers),
            ("hiragana_providers", self.hiragana_providers),
            ("era_birth_date_providers", self.era_birth_date_providers),
            (
                "full_width_digit_providers",
                self.full_width_digit_providers,
            ),
            ("variant_kanji", self.variant_kanji),
            ("space_in_name", self.space_in_name),
            ("name_typo", self.name_typo),
            ("birth_date_typo", self.birth_date_typo),
            ("missing_phone", self.missing_phone),
            ("outdated_address", self.outdated_address),
            ("outdated_family_name", self.outdated_family_name),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Config::new(10, 1).validate().is_ok());
        let mut c = Config::new(10, 1);
        c.end = c.start;
        assert!(c.validate().is_err());
        let mut c = Config::new(10, 1);
        c.noise.missing_phone = 1.5;
        assert!(c.validate().is_err());
        let mut c = Config::new(10, 1);
        c.providers = Some(3);
        assert!(c.validate().is_err());
        assert!(Config::new(0, 1).validate().is_err());
        assert_eq!(Format::parse(" SSMIX2").unwrap(), Format::Ssmix2);
        assert!(Format::parse("xml").is_err());
    }
}
