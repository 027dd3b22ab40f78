//! `/etc/cvip.conf`: OpenSSI's XML plus ssinet's optional extensions. Any element order,
//! comments, declaration and whitespace are accepted; unknown elements are errors that list what
//! is allowed there, so a typo is never silently ignored.

mod elements;
mod values;

use crate::diag::{Diagnostic, Diagnostics, LineIndex, Position};
use crate::model::CvipConf;
use crate::spans::CvipConfSpans;
use crate::xml_tree::{Element, parse_tree};

pub(crate) use values::parse_u32;

/// Parses cvip.conf text; `file` names it in diagnostics.
pub fn parse_cvip_conf(text: &str, file: &str) -> Result<CvipConf, Diagnostics> {
    parse_cvip_conf_with_spans(text, file).map(|(conf, _)| conf)
}

/// Like [`parse_cvip_conf`], also returning where each value was written.
pub fn parse_cvip_conf_with_spans(
    text: &str,
    file: &str,
) -> Result<(CvipConf, CvipConfSpans), Diagnostics> {
    let root = parse_tree(text, file)?;
    let mut walker = Walker {
        file,
        index: LineIndex::new(text),
        diagnostics: Diagnostics::default(),
    };
    let parsed = walker.root(&root);
    match (parsed, walker.diagnostics.is_empty()) {
        (Some(parsed), true) => Ok(parsed),
        _ => {
            let mut diagnostics = walker.diagnostics;
            diagnostics.sort();
            Err(diagnostics)
        }
    }
}

struct Walker<'a> {
    file: &'a str,
    index: LineIndex<'a>,
    diagnostics: Diagnostics,
}

/// A parsed leaf value and where its text starts.
type Spanned<T> = (T, Position);

impl Walker<'_> {
    fn pos(&self, offset: usize) -> Position {
        self.index.position(offset)
    }

    fn error(&mut self, offset: usize, field: &str, message: String) -> &mut Diagnostic {
        let d = Diagnostic::new(self.file, Some(self.pos(offset)), field, message);
        self.diagnostics.push(d);
        self.diagnostics.0.last_mut().expect("just pushed")
    }

    /// Reports attributes, stray text and children not in `allowed`.
    fn check_container(&mut self, element: &Element, path: &str, allowed: &[&str]) {
        self.check_attributes(element, path);
        if let Some(offset) = element.text_start {
            self.error(
                offset,
                path,
                format!("unexpected text {:?}", shorten(element.text.trim())),
            )
            .expected = Some(format!("only elements inside <{}>", element.name));
        }
        for child in &element.children {
            if !allowed.contains(&child.name.as_str()) {
                let list = allowed
                    .iter()
                    .map(|a| format!("<{a}>"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.error(
                    child.start,
                    path,
                    format!("unknown element <{}>", child.name),
                )
                .expected = Some(format!("one of: {list}"));
            }
        }
    }

    fn check_attributes(&mut self, element: &Element, path: &str) {
        for (name, offset) in &element.attributes {
            self.error(
                *offset,
                path,
                format!("unknown attribute {name:?} on <{}>", element.name),
            )
            .expected = Some("no attributes (cvip.conf uses elements only)".into());
        }
    }

    /// The single child called `name`; duplicates are reported, a missing required one too.
    fn single<'e>(
        &mut self,
        parent: &'e Element,
        name: &str,
        path: &str,
        required: bool,
    ) -> Option<&'e Element> {
        let mut found = parent.children.iter().filter(|c| c.name == name);
        let first = found.next();
        for duplicate in found {
            self.error(
                duplicate.start,
                &child_path(path, name),
                format!("<{name}> given more than once in <{}>", parent.name),
            )
            .expected = Some(format!("at most one <{name}>"));
        }
        if first.is_none() && required {
            self.error(
                parent.start,
                path,
                format!("<{}> has no <{name}>", parent.name),
            )
            .expected = Some(format!("a <{name}> element"));
        }
        first
    }

    /// The trimmed text of a leaf element.
    fn leaf(&mut self, element: &Element, path: &str) -> Option<Spanned<String>> {
        self.check_attributes(element, path);
        if let Some(child) = element.children.first() {
            self.error(
                child.start,
                path,
                format!(
                    "unexpected element <{}> inside <{}>",
                    child.name, element.name
                ),
            )
            .expected = Some("a plain value".into());
            return None;
        }
        Some((
            element.text.trim().to_owned(),
            self.pos(element.value_start()),
        ))
    }

    fn value<T>(
        &mut self,
        element: &Element,
        path: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Spanned<T>> {
        let (text, position) = self.leaf(element, path)?;
        match parse(&text) {
            Some(v) => Some((v, position)),
            None => {
                let message = if text.is_empty() {
                    format!("<{}> is empty", element.name)
                } else {
                    format!("invalid value {:?}", shorten(&text))
                };
                self.error(element.value_start(), path, message).expected = Some(expected.into());
                None
            }
        }
    }

    fn field<T>(
        &mut self,
        parent: &Element,
        name: &str,
        path: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Option<Spanned<T>>> {
        match self.single(parent, name, path, false) {
            None => Some(None),
            Some(element) => self
                .value(element, &child_path(path, name), expected, parse)
                .map(Some),
        }
    }

    fn required<T>(
        &mut self,
        parent: &Element,
        name: &str,
        path: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<Spanned<T>> {
        let element = self.single(parent, name, path, true)?;
        self.value(element, &child_path(path, name), expected, parse)
    }
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        format!("<{name}>")
    } else {
        format!("{path}/<{name}>")
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
