//! Column roles (what a CSV column means) and the comparison fields built from them.

use serde::{Deserialize, Serialize};

/// What a column of an identity file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Record id (output only; never compared).
    Id,
    /// 姓 / surname.
    FamilyName,
    /// 名 / given name.
    GivenName,
    /// 姓 in kana (セイ).
    FamilyNameKana,
    /// 名 in kana (メイ).
    GivenNameKana,
    /// Date of birth (era or Western form).
    BirthDate,
    /// Sex (1/2, 男/女, M/F).
    Sex,
    /// Postal code (郵便番号).
    PostalCode,
    /// A Japanese address in one string (split into prefecture … block).
    Address,
    /// FEBRL street number.
    StreetNumber,
    /// FEBRL address line 1.
    Address1,
    /// FEBRL address line 2.
    Address2,
    /// FEBRL suburb / locality.
    Suburb,
    /// FEBRL state.
    State,
    /// Telephone number.
    Phone,
    /// 保険者番号.
    InsurerNumber,
    /// 被保険者証記号.
    InsuredSymbol,
    /// 被保険者証番号.
    InsuredNumber,
    /// 枝番.
    InsuredBranch,
    /// A national identifier (FEBRL soc_sec_id).
    NationalId,
}

impl Role {
    /// Every role, in a fixed order (the index of a role in a raw record).
    pub const ALL: [Role; 20] = [
        Role::Id,
        Role::FamilyName,
        Role::GivenName,
        Role::FamilyNameKana,
        Role::GivenNameKana,
        Role::BirthDate,
        Role::Sex,
        Role::PostalCode,
        Role::Address,
        Role::StreetNumber,
        Role::Address1,
        Role::Address2,
        Role::Suburb,
        Role::State,
        Role::Phone,
        Role::InsurerNumber,
        Role::InsuredSymbol,
        Role::InsuredNumber,
        Role::InsuredBranch,
        Role::NationalId,
    ];

    /// Index into [`Role::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name (as in a mapping file).
    pub fn name(self) -> &'static str {
        match self {
            Role::Id => "id",
            Role::FamilyName => "family_name",
            Role::GivenName => "given_name",
            Role::FamilyNameKana => "family_name_kana",
            Role::GivenNameKana => "given_name_kana",
            Role::BirthDate => "birth_date",
            Role::Sex => "sex",
            Role::PostalCode => "postal_code",
            Role::Address => "address",
            Role::StreetNumber => "street_number",
            Role::Address1 => "address_1",
            Role::Address2 => "address_2",
            Role::Suburb => "suburb",
            Role::State => "state",
            Role::Phone => "phone",
            Role::InsurerNumber => "insurer_number",
            Role::InsuredSymbol => "insured_symbol",
            Role::InsuredNumber => "insured_number",
            Role::InsuredBranch => "insured_branch",
            Role::NationalId => "national_id",
        }
    }

    /// Parse a role name.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// How a comparison field is compared; decides its tokens and its levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// 姓 (written and kana), compared also against the other record's 名 (swap).
    FamilyName,
    /// 名 (written and kana), compared also against the other record's 姓 (swap).
    GivenName,
    /// Date of birth.
    BirthDate,
    /// Sex.
    Sex,
    /// Postal code.
    PostalCode,
    /// Japanese address split into parts.
    JpAddress,
    /// Insurance card: insurer, symbol, number, branch.
    Insurance,
    /// Free text compared exactly, phonetically and by q-gram overlap (one role).
    Text(Role),
}

impl FieldKind {
    /// Field name, used for key derivation and in explanations.
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::FamilyName => "family_name",
            FieldKind::GivenName => "given_name",
            FieldKind::BirthDate => "birth_date",
            FieldKind::Sex => "sex",
            FieldKind::PostalCode => "postal_code",
            FieldKind::JpAddress => "address",
            FieldKind::Insurance => "insurance",
            FieldKind::Text(r) => r.name(),
        }
    }

    /// Names of the comparison levels, index = level. Level 0 is "missing on either side"
    /// (contributes no evidence), level 1 is "disagree".
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            FieldKind::FamilyName | FieldKind::GivenName => &[
                "null",
                "else",
                "fuzzy_low",
                "fuzzy_high",
                "swapped",
                "phonetic",
                "exact",
            ],
            FieldKind::BirthDate => &[
                "null",
                "else",
                "two_of_three",
                "transposed_day_month",
                "exact",
            ],
            FieldKind::Sex => &["null", "else", "exact"],
            FieldKind::PostalCode => &["null", "else", "same_area_3", "same_area_5", "exact"],
            FieldKind::JpAddress => &[
                "null",
                "else",
                "same_municipality",
                "fuzzy",
                "same_town",
                "exact",
            ],
            FieldKind::Insurance => &["null", "else", "same_insurer", "same_number", "exact"],
            FieldKind::Text(_) => &[
                "null",
                "else",
                "fuzzy_low",
                "fuzzy_high",
                "phonetic",
                "exact",
            ],
        }
    }

    /// The level for an exact agreement (the last one), the one term frequencies adjust.
    pub fn exact_level(self) -> u8 {
        (self.levels().len() - 1) as u8
    }

    /// Whether an exact agreement is weighted by how common the value is (a shared 佐藤 says
    /// less than a shared 勅使河原).
    pub fn term_frequency(self) -> bool {
        matches!(
            self,
            FieldKind::FamilyName
                | FieldKind::GivenName
                | FieldKind::BirthDate
                | FieldKind::PostalCode
                | FieldKind::Text(_)
        )
    }
}

/// The comparison fields used for one linkage run: those whose roles both sides have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Fields, in comparison order.
    pub fields: Vec<FieldKind>,
}

impl Schema {
    /// The fields that can be compared given the roles present (on both sides).
    pub fn from_roles(has: impl Fn(Role) -> bool) -> Schema {
        let mut fields = Vec::new();
        if has(Role::FamilyName) || has(Role::FamilyNameKana) {
            fields.push(FieldKind::FamilyName);
        }
        if has(Role::GivenName) || has(Role::GivenNameKana) {
            fields.push(FieldKind::GivenName);
        }
        if has(Role::BirthDate) {
            fields.push(FieldKind::BirthDate);
        }
        if has(Role::Sex) {
            fields.push(FieldKind::Sex);
        }
        if has(Role::PostalCode) {
            fields.push(FieldKind::PostalCode);
        }
        if has(Role::Address) {
            fields.push(FieldKind::JpAddress);
        }
        for r in [
            Role::StreetNumber,
            Role::Address1,
            Role::Address2,
            Role::Suburb,
            Role::State,
            Role::Phone,
            Role::NationalId,
        ] {
            if has(r) {
                fields.push(FieldKind::Text(r));
            }
        }
        if has(Role::InsurerNumber) && has(Role::InsuredNumber) {
            fields.push(FieldKind::Insurance);
        }
        Schema { fields }
    }

    /// Index of a field.
    pub fn position(&self, kind: FieldKind) -> Option<usize> {
        self.fields.iter().position(|f| *f == kind)
    }
}
