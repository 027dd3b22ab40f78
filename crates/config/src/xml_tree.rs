//! A small element tree with byte offsets, built from quick-xml events. Schema checks run on the
//! tree afterwards so that every problem in the file can be reported at once, each at its place.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::diag::{Diagnostic, LineIndex};

/// Deeper nesting than any valid cvip.conf (which is 3 levels) is refused early, which also keeps
/// hostile input from building trees whose drop would exhaust the stack.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    /// Offset of the `<` that opens the element.
    pub start: usize,
    /// Attribute names with their offsets (cvip.conf uses none; each is reported).
    pub attributes: Vec<(String, usize)>,
    pub children: Vec<Element>,
    /// Character data with entities resolved, untrimmed.
    pub text: String,
    /// Offset of the first non-whitespace character of `text`.
    pub text_start: Option<usize>,
}

impl Element {
    /// Offset where the element's value starts: its text if any, else the element itself.
    pub fn value_start(&self) -> usize {
        self.text_start.unwrap_or(self.start)
    }
}

/// Parses `text` into its root element, or the first XML syntax error.
pub(crate) fn parse_tree(text: &str, file: &str) -> Result<Element, Diagnostic> {
    let index = LineIndex::new(text);
    let syntax_error = |offset: usize, message: String| {
        Diagnostic::new(file, Some(index.position(offset)), "XML", message)
    };
    if let Some((offset, c)) = text.char_indices().find(|(_, c)| !is_xml_char(*c)) {
        return Err(syntax_error(
            offset,
            format!("character U+{:04X} is not allowed in XML", u32::from(c)),
        )
        .expected("text without control characters other than tab and newline"));
    }
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let offset = to_usize(reader.buffer_position());
        let event = reader.read_event().map_err(|e| {
            syntax_error(
                to_usize(reader.error_position()),
                format!("malformed XML: {e}"),
            )
        })?;
        match event {
            Event::Start(start) | Event::Empty(start) if stack.len() >= MAX_DEPTH => {
                let name = start.name().as_ref().to_owned();
                return Err(syntax_error(
                    offset,
                    format!("<{name}> is nested more than {MAX_DEPTH} elements deep"),
                ));
            }
            Event::Start(start) | Event::Empty(start) if root.is_some() && stack.is_empty() => {
                let name = start.name().as_ref().to_owned();
                return Err(syntax_error(
                    offset,
                    format!("second top-level element <{name}> after </cvips>"),
                )
                .expected("exactly one <cvips> element"));
            }
            Event::Start(start) => stack.push(open(&start, offset, &syntax_error)?),
            Event::Empty(start) => {
                let element = open(&start, offset, &syntax_error)?;
                close(element, &mut stack, &mut root);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| {
                    syntax_error(offset, "closing tag without an opening tag".into())
                })?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(raw) => {
                let raw_str: &str = &raw;
                let leading = raw_str.len() - raw_str.trim_start().len();
                let content = raw.xml10_content();
                append_text(&mut stack, &content, offset + leading, &syntax_error)?;
            }
            Event::CData(cdata) => {
                let content = cdata.xml10_content();
                append_text(&mut stack, &content, offset, &syntax_error)?;
            }
            Event::GeneralRef(reference) => {
                let resolved =
                    resolve_reference(&reference).map_err(|m| syntax_error(offset, m))?;
                append_text(
                    &mut stack,
                    resolved.encode_utf8(&mut [0; 4]),
                    offset,
                    &syntax_error,
                )?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(
            syntax_error(text.len(), format!("file ends inside <{}>", open.name))
                .expected(format!("</{}>", open.name)),
        );
    }
    root.ok_or_else(|| {
        syntax_error(text.len(), "no root element".into()).expected("a <cvips> element")
    })
}

/// XML 1.0's `Char` production (Rust `char`s already exclude surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn to_usize(offset: u64) -> usize {
    usize::try_from(offset).unwrap_or(usize::MAX)
}

fn open(
    start: &quick_xml::events::BytesStart<'_>,
    offset: usize,
    syntax_error: &impl Fn(usize, String) -> Diagnostic,
) -> Result<Element, Diagnostic> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute =
            attribute.map_err(|e| syntax_error(offset, format!("malformed attribute: {e}")))?;
        let key = attribute.key.as_ref().to_owned();
        attributes.push((key, offset));
    }
    Ok(Element {
        name,
        start: offset,
        attributes,
        ..Element::default()
    })
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn append_text(
    stack: &mut [Element],
    content: &str,
    offset: usize,
    syntax_error: &impl Fn(usize, String) -> Diagnostic,
) -> Result<(), Diagnostic> {
    match stack.last_mut() {
        Some(current) => {
            if current.text_start.is_none() && !content.trim().is_empty() {
                current.text_start = Some(offset);
            }
            current.text.push_str(content);
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(
            syntax_error(offset, "text outside the <cvips> element".into())
                .expected("only comments and whitespace around <cvips>"),
        ),
    }
}

/// The five predefined XML entities and character references; DTD-defined entities are refused.
fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, String> {
    if let Some(c) = reference
        .resolve_char_ref()
        .map_err(|e| format!("bad character reference &{};: {e}", &**reference))?
    {
        if !is_xml_char(c) {
            return Err(format!(
                "character reference &{}; names U+{:04X}, which XML does not allow",
                &**reference,
                u32::from(c)
            ));
        }
        return Ok(c);
    }
    match &**reference {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(format!(
            "unknown entity &{other};, use one of &lt; &gt; &amp; &apos; &quot;"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_text_offsets_and_entities() {
        let text = "<?xml version=\"1.0\"?>\n<!-- c -->\n<a>\n <b>  x&amp;y </b><c/></a>\n";
        let root = parse_tree(text, "f").unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.children.len(), 2);
        let b = &root.children[0];
        assert_eq!(b.text.trim(), "x&y");
        assert_eq!(&text[b.text_start.unwrap()..b.text_start.unwrap() + 1], "x");
        assert_eq!(root.children[1].name, "c");
    }

    #[test]
    fn reports_mismatched_tags_with_position() {
        let err = parse_tree("<cvips>\n  <cvip></cvips>", "f.xml").unwrap_err();
        assert_eq!(err.file, "f.xml");
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("malformed XML"), "{err}");
    }

    #[test]
    fn refuses_characters_xml_does_not_allow() {
        let err = parse_tree("<a>\n x\u{1}</a>", "f").unwrap_err();
        assert_eq!((err.line, err.column), (Some(2), Some(3)));
        assert_eq!(err.message, "character U+0001 is not allowed in XML");
        let err = parse_tree("<a>&#0;</a>", "f").unwrap_err();
        assert!(err.message.contains("&#0;"), "{err}");
        let err = parse_tree("<a>&#x1;</a>", "f").unwrap_err();
        assert!(err.message.contains("which XML does not allow"), "{err}");
    }

    #[test]
    fn refuses_deep_nesting() {
        let text = "<a>".repeat(100);
        let err = parse_tree(&text, "f").unwrap_err();
        assert!(err.message.contains("nested more than"), "{err}");
    }
}
