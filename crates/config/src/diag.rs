//! Compiler-style diagnostics: every problem names the file, the line and column, the field, what
//! was wrong and what was expected, so an operator can fix a file without reading our source.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A 1-based line and column (columns count characters, not bytes, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

/// One problem in a configuration file.
///
/// `line` and `column` are `None` only when the offending value was built in memory (for example
/// by a Raft command) rather than read from a file; `file` then names the file the value belongs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// Where in the file's structure, e.g. `<cvip>/<director_node>/<node_num>` or `MAC address`.
    pub field: String,
    pub message: String,
    /// What would have been accepted, e.g. `one of: 1, 2, 3`.
    pub expected: Option<String>,
}

impl Diagnostic {
    pub fn new(
        file: impl Into<String>,
        position: Option<Position>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line: position.map(|p| p.line),
            column: position.map(|p| p.column),
            field: field.into(),
            message: message.into(),
            expected: None,
        }
    }

    #[must_use]
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn position(&self) -> Option<Position> {
        Some(Position {
            line: self.line?,
            column: self.column?,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.position() {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": error in {}: {}", self.field, self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

/// Every problem found, reported together so one edit-check cycle fixes them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}", render(.0))]
pub struct Diagnostics(pub Vec<Diagnostic>);

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was found, so callers can use `?`.
    pub fn into_result(mut self) -> Result<(), Diagnostics> {
        if self.0.is_empty() {
            Ok(())
        } else {
            self.sort();
            Err(self)
        }
    }

    /// Orders by file, then position, so output reads top to bottom like the files do.
    pub fn sort(&mut self) {
        self.0
            .sort_by(|a, b| (&a.file, a.position()).cmp(&(&b.file, b.position())));
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Maps byte offsets in a text to line:column positions.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    pub(crate) fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        // An offset inside a multi-byte character counts as that character.
        let column = self.text[start..]
            .char_indices()
            .take_while(|(i, _)| start + i < offset)
            .count();
        Position {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let index = LineIndex::new("ab\nçd\n\nx");
        assert_eq!(index.position(0), Position { line: 1, column: 1 });
        assert_eq!(index.position(3), Position { line: 2, column: 1 });
        assert_eq!(index.position(5), Position { line: 2, column: 2 });
        assert_eq!(index.position(8), Position { line: 4, column: 1 });
        assert_eq!(index.position(99), Position { line: 4, column: 2 });
    }

    #[test]
    fn display_reads_like_a_compiler() {
        let d = Diagnostic::new(
            "/etc/cvip.conf",
            Some(Position {
                line: 12,
                column: 7,
            }),
            "<cvip>/<director_node>/<node_num>",
            "node 9 is not in /etc/clustertab",
        )
        .expected("one of: 1, 2, 3");
        assert_eq!(
            d.to_string(),
            "/etc/cvip.conf:12:7: error in <cvip>/<director_node>/<node_num>: node 9 is not in \
             /etc/clustertab (expected one of: 1, 2, 3)"
        );
    }
}
