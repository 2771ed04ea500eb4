//! Generalization hierarchies in ARX's CSV format, stored as per-level lookup tables.
//!
//! A hierarchy file has one line per original value, `;`-separated, no header: column 0 is the value itself
//! (level 0), column i its level-i generalization, the last column the root (usually `*`). We dictionary-encode
//! every level separately: a value's *leaf index* is its line, and `codes[level][leaf]` is the dense code of its
//! generalization at that level. Because we require a tree (a value has one parent), rolling classes up from level
//! `a` to level `b` is a lookup `up(a, b)[code]`.

use std::collections::HashMap;

use crate::error::AnonError;

/// A generalization hierarchy of one attribute.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    name: String,
    /// Level-0 value → leaf index (line).
    leaf_index: HashMap<String, u32>,
    /// `codes[level][leaf]`: code of the leaf's generalization at `level`.
    codes: Vec<Vec<u32>>,
    /// `labels[level][code]`: the text of a code.
    labels: Vec<Vec<String>>,
    /// `leaves[level][code]`: how many hierarchy lines generalize to the code.
    leaves: Vec<Vec<u32>>,
    /// `parent[level][code]`: code at `level + 1` (empty for the root level).
    parent: Vec<Vec<u32>>,
}

impl Hierarchy {
    /// Parse ARX's hierarchy format. Line endings `\n`, `\r\n` and `\r` are accepted; empty lines are skipped;
    /// cells are trimmed of surrounding ASCII spaces only when the whole file uses no quoting (ARX writes none).
    pub fn parse_arx(name: &str, text: &str) -> Result<Self, AnonError> {
        Self::parse_arx_with_delimiter(name, text, ';')
    }

    /// As [`Hierarchy::parse_arx`] with another delimiter.
    pub fn parse_arx_with_delimiter(
        name: &str,
        text: &str,
        delimiter: char,
    ) -> Result<Self, AnonError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // `lines()` handles `\n` and `\r\n`; files from old Mac tools use a bare `\r`.
        let lines: Box<dyn Iterator<Item = &str>> = if text.contains('\n') {
            Box::new(text.lines())
        } else {
            Box::new(text.split('\r'))
        };
        let mut rows: Vec<(usize, Vec<&str>)> = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            rows.push((i + 1, line.split(delimiter).collect()));
        }
        Self::from_rows(name, rows)
    }

    /// Build from rows of cells (level 0 first). `rows` carries the 1-based line numbers used in errors.
    pub fn from_rows(name: &str, rows: Vec<(usize, Vec<&str>)>) -> Result<Self, AnonError> {
        let name_s = name.to_owned();
        let Some((_, first)) = rows.first() else {
            return Err(AnonError::EmptyHierarchy { hierarchy: name_s });
        };
        let height = first.len();
        let mut leaf_index = HashMap::with_capacity(rows.len());
        let mut codes: Vec<Vec<u32>> = vec![Vec::with_capacity(rows.len()); height];
        let mut labels: Vec<Vec<String>> = vec![Vec::new(); height];
        let mut leaves: Vec<Vec<u32>> = vec![Vec::new(); height];
        let mut dict: Vec<HashMap<&str, u32>> = vec![HashMap::new(); height];
        // parent code at level+1 of each code at level, and the line that fixed it (for errors).
        let mut parent: Vec<Vec<(u32, usize)>> = vec![Vec::new(); height];
        for (leaf, (line, cells)) in rows.iter().enumerate() {
            if cells.len() != height {
                return Err(AnonError::RaggedHierarchy {
                    hierarchy: name_s,
                    line: *line,
                    expected: height,
                    found: cells.len(),
                });
            }
            let mut prev: Option<u32> = None;
            for (level, raw) in cells.iter().enumerate() {
                let cell = raw.trim_matches(' ');
                if cell.is_empty() {
                    return Err(AnonError::EmptyHierarchyCell {
                        hierarchy: name_s,
                        line: *line,
                        level,
                    });
                }
                let next = labels[level].len() as u32;
                let code = *dict[level].entry(cell).or_insert(next);
                if code == next {
                    labels[level].push(cell.to_owned());
                    leaves[level].push(0);
                    if level > 0 {
                        // placeholder; set below
                    }
                } else if level == 0 {
                    // ARX's own benchmark files repeat some lines verbatim (fars_int's age 99); ARX counts every
                    // line in |D|, so we keep the repeat as another line of the same value. A repeat that
                    // generalizes differently is an error.
                    let first = leaf_index.get(cell).copied().unwrap_or(0) as usize;
                    let (first_line, first_cells) = &rows[first];
                    let same = first_cells.len() == cells.len()
                        && first_cells
                            .iter()
                            .zip(cells)
                            .all(|(a, b)| a.trim_matches(' ') == b.trim_matches(' '));
                    if !same {
                        return Err(AnonError::DuplicateHierarchyValue {
                            hierarchy: name_s,
                            line: *line,
                            first_line: *first_line,
                        });
                    }
                }
                leaves[level][code as usize] += 1;
                codes[level].push(code);
                if let Some(p) = prev {
                    let table = &mut parent[level - 1];
                    let p = p as usize;
                    if table.len() <= p {
                        table.resize(p + 1, (u32::MAX, 0));
                    }
                    if table[p].0 == u32::MAX {
                        table[p] = (code, *line);
                    } else if table[p].0 != code {
                        return Err(AnonError::NotATree {
                            hierarchy: name_s,
                            line: *line,
                            level: level - 1,
                            other_line: table[p].1,
                        });
                    }
                }
                prev = Some(code);
            }
            leaf_index
                .entry(cells[0].trim_matches(' ').to_owned())
                .or_insert(leaf as u32);
        }
        if labels[height - 1].len() != 1 {
            return Err(AnonError::NoSingleRoot {
                hierarchy: name_s,
                values: labels[height - 1].len(),
            });
        }
        let parent = parent
            .into_iter()
            .take(height - 1)
            .map(|t| t.into_iter().map(|(c, _)| c).collect())
            .collect();
        Ok(Hierarchy {
            name: name_s,
            leaf_index,
            codes,
            labels,
            leaves,
            parent,
        })
    }

    /// The hierarchy's name (its attribute).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of levels (columns of the file), at least 1.
    pub fn height(&self) -> usize {
        self.codes.len()
    }

    /// Number of lines of the file, ARX's |D| (a line repeated verbatim counts twice, as in ARX).
    pub fn domain_size(&self) -> usize {
        self.codes[0].len()
    }

    /// Leaf index of an original value.
    pub fn leaf(&self, value: &str) -> Option<u32> {
        self.leaf_index.get(value).copied()
    }

    /// Code of a leaf's generalization at `level`.
    #[inline]
    pub fn code(&self, level: usize, leaf: u32) -> u32 {
        self.codes[level][leaf as usize]
    }

    /// The per-leaf code table of a level.
    pub fn level_codes(&self, level: usize) -> &[u32] {
        &self.codes[level]
    }

    /// Number of distinct values at a level.
    pub fn level_size(&self, level: usize) -> usize {
        self.labels[level].len()
    }

    /// Text of a code at a level.
    pub fn label(&self, level: usize, code: u32) -> &str {
        &self.labels[level][code as usize]
    }

    /// Number of hierarchy lines under a code at a level.
    pub fn leaves_under(&self, level: usize, code: u32) -> u32 {
        self.leaves[level][code as usize]
    }

    /// Table mapping codes at level `from` to codes at level `to` (`from <= to`).
    pub fn up_table(&self, from: usize, to: usize) -> Vec<u32> {
        (0..self.level_size(from) as u32)
            .map(|mut c| {
                for l in from..to {
                    c = self.parent[l][c as usize];
                }
                c
            })
            .collect()
    }

    /// Parent code at `level + 1` of a code at `level`.
    pub fn parent(&self, level: usize, code: u32) -> u32 {
        self.parent[level][code as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_levels_and_rolls_up() {
        let h = Hierarchy::parse_arx("age", "1;0-4;*\r\n2;0-4;*\r\n7;5-9;*").unwrap();
        assert_eq!(h.height(), 3);
        assert_eq!(h.domain_size(), 3);
        assert_eq!(h.level_size(1), 2);
        assert_eq!(h.label(1, h.code(1, h.leaf("7").unwrap())), "5-9");
        assert_eq!(h.leaves_under(1, h.code(1, 0)), 2);
        assert_eq!(h.up_table(0, 2), vec![0, 0, 0]);
        assert_eq!(h.up_table(0, 1), vec![0, 0, 1]);
    }

    #[test]
    fn rejects_ragged_lines_with_line_number() {
        let e = Hierarchy::parse_arx("age", "1;0-4;*\n2;*\n").unwrap_err();
        assert_eq!(
            e,
            AnonError::RaggedHierarchy {
                hierarchy: "age".into(),
                line: 2,
                expected: 3,
                found: 2
            }
        );
        assert!(!e.to_string().contains("2;*"));
    }

    #[test]
    fn crlf_line_numbers_are_logical() {
        let e = Hierarchy::parse_arx("x", "a;*\r\nb;*\r\nc\r\n").unwrap_err();
        assert!(
            matches!(e, AnonError::RaggedHierarchy { line: 3, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn rejects_non_tree_duplicates_and_roots() {
        assert!(matches!(
            Hierarchy::parse_arx("x", "a;A;*\nb;A;*\nc;B;*\nd;B;R\n"),
            Err(AnonError::NoSingleRoot { .. }) | Err(AnonError::NotATree { .. })
        ));
        assert!(matches!(
            Hierarchy::parse_arx("x", "a;A;*\nb;A;*\na;B;*\n"),
            Err(AnonError::DuplicateHierarchyValue {
                line: 3,
                first_line: 1,
                ..
            })
        ));
        assert!(matches!(
            Hierarchy::parse_arx("x", "a;*\nb;+\n"),
            Err(AnonError::NoSingleRoot { values: 2, .. })
        ));
        assert!(matches!(
            Hierarchy::parse_arx("x", "\n\n"),
            Err(AnonError::EmptyHierarchy { .. })
        ));
        assert!(matches!(
            Hierarchy::parse_arx("x", "a;;*\n"),
            Err(AnonError::EmptyHierarchyCell { level: 1, .. })
        ));
    }

    #[test]
    fn verbatim_repeat_counts_as_a_line() {
        let h = Hierarchy::parse_arx("x", "a;A;*\nb;A;*\nb;A;*\n").unwrap();
        assert_eq!(h.domain_size(), 3);
        assert_eq!(h.level_size(0), 2);
        assert_eq!(h.leaves_under(1, 0), 3);
        assert_eq!(h.leaf("b"), Some(1));
    }

    #[test]
    fn non_tree_is_detected() {
        // "A" at level 1 has parents X and Y at level 2.
        let e = Hierarchy::parse_arx("x", "a;A;X;*\nb;A;Y;*\n").unwrap_err();
        assert!(
            matches!(
                e,
                AnonError::NotATree {
                    line: 2,
                    level: 1,
                    other_line: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
