//! `/etc/default/lvs_routing`: shell-style `LVS_ROUTING=NAT|DR` and `LVS_INTERNAL_GW=<ip>`.
//! Quotes, `export`, a trailing `;` (OpenSSI's documentation writes `LVS_INTERNAL_GW=<ip>;`) and
//! `#` comments are accepted as a shell would read them; any other variable is an error, because a
//! misspelt name would otherwise be silently ignored.

use crate::diag::{Diagnostic, Diagnostics, LineIndex};
use crate::model::{LvsRouting, Routing};
use crate::spans::LvsRoutingSpans;

const ROUTING: &str = "LVS_ROUTING";
const INTERNAL_GW: &str = "LVS_INTERNAL_GW";
/// What the right-hand side of an assignment may be.
const ONE_VALUE: &str =
    "one value, optionally in matching quotes, then optionally ; and a # comment";

/// Parses lvs_routing text; `file` names it in diagnostics.
pub fn parse_lvs_routing(text: &str, file: &str) -> Result<LvsRouting, Diagnostics> {
    parse_lvs_routing_with_spans(text, file).map(|(v, _)| v)
}

/// Like [`parse_lvs_routing`], also returning where each value was written.
pub fn parse_lvs_routing_with_spans(
    text: &str,
    file: &str,
) -> Result<(LvsRouting, LvsRoutingSpans), Diagnostics> {
    let index = LineIndex::new(text);
    let mut diagnostics = Diagnostics::default();
    let mut value = LvsRouting::default();
    let mut spans = LvsRoutingSpans {
        file: file.to_owned(),
        ..LvsRoutingSpans::default()
    };
    let mut line_start = 0;
    for raw_line in text.split_inclusive('\n') {
        let this_line = line_start;
        let offset_of = |s: &str| this_line + (s.as_ptr() as usize - raw_line.as_ptr() as usize);
        let line = raw_line.trim_end_matches(['\n', '\r']);
        let trimmed = line.trim_start();
        line_start += raw_line.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let assignment = trimmed
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(trimmed, str::trim_start);
        let at = |s: &str| Some(index.position(offset_of(s)));
        let Some((key, rest)) = assignment.split_once('=') else {
            diagnostics.push(
                Diagnostic::new(
                    file,
                    at(assignment),
                    "line",
                    format!("not an assignment: {:?}", assignment.trim_end()),
                )
                .expected("NAME=value, # comment or a blank line"),
            );
            continue;
        };
        let value_text = match shell_value(rest) {
            Ok(v) => v,
            Err(message) => {
                diagnostics.push(Diagnostic::new(file, at(rest), key, message).expected(ONE_VALUE));
                continue;
            }
        };
        let value_position = index.position(offset_of(rest) + value_lead(rest));
        match key {
            ROUTING | INTERNAL_GW => {
                let already = if key == ROUTING {
                    spans.routing
                } else {
                    spans.internal_gw
                };
                if let Some(first) = already {
                    diagnostics.push(
                        Diagnostic::new(
                            file,
                            at(key),
                            key,
                            format!("{key} set again (first set on line {})", first.line),
                        )
                        .expected(format!("{key} once")),
                    );
                    continue;
                }
            }
            other => {
                diagnostics.push(
                    Diagnostic::new(
                        file,
                        at(key),
                        "variable",
                        format!("unknown variable {other:?}"),
                    )
                    .expected(format!("{ROUTING} or {INTERNAL_GW}")),
                );
                continue;
            }
        }
        if value_text.is_empty() {
            // An empty assignment leaves the variable unset, as in the shell.
            continue;
        }
        if key == ROUTING {
            match Routing::parse(&value_text) {
                Some(routing) => {
                    value.routing = Some(routing);
                    spans.routing = Some(value_position);
                }
                None => diagnostics.push(
                    Diagnostic::new(
                        file,
                        Some(value_position),
                        key,
                        format!("invalid value {value_text:?}"),
                    )
                    .expected("DR or NAT"),
                ),
            }
        } else {
            match value_text.parse() {
                Ok(ip) => {
                    value.internal_gw = Some(ip);
                    spans.internal_gw = Some(value_position);
                }
                Err(_) => diagnostics.push(
                    Diagnostic::new(
                        file,
                        Some(value_position),
                        key,
                        format!("invalid value {value_text:?}"),
                    )
                    .expected("an IPv4 or IPv6 address"),
                ),
            }
        }
    }
    diagnostics.into_result().map(|()| (value, spans))
}

/// Bytes of the opening quote, if any, before the value proper.
fn value_lead(rest: &str) -> usize {
    usize::from(rest.starts_with(['"', '\'']))
}

/// The value of a shell assignment's right-hand side: one word, bare or quoted, then optional
/// whitespace, one optional `;` (which ends the command, as in OpenSSI's own lvs_routing lines
/// `LVS_INTERNAL_GW=<ip>;`) and an optional comment. As in the shell, `X=a#b` is the word `a#b`
/// and `;` ends a bare word; anything after the `;` other than a comment would be another command,
/// and is refused.
fn shell_value(rest: &str) -> Result<String, String> {
    let (value, after) = match rest.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let body = &rest[1..];
            let end = body
                .find(quote)
                .ok_or_else(|| format!("missing closing {quote}"))?;
            (&body[..end], &body[end + 1..])
        }
        _ => {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
    };
    let after = after.trim_start();
    let tail = after.strip_prefix(';').map_or(after, str::trim_start);
    if !tail.is_empty() && !tail.starts_with('#') {
        return Err(format!("unexpected text after the value: {after:?}"));
    }
    Ok(value.to_owned())
}

/// Writes an lvs_routing file; parsing it again gives `value` back.
pub fn to_lvs_routing_string(value: &LvsRouting) -> String {
    let mut out = String::from(
        "# /etc/default/lvs_routing (written by ssinet)\n\
         # LVS_ROUTING: DR or NAT. LVS_INTERNAL_GW: NAT mode's internal gateway, which moves\n\
         # with the director.\n",
    );
    if let Some(routing) = value.routing {
        out.push_str(&format!("{ROUTING}={routing}\n"));
    }
    if let Some(gw) = value.internal_gw {
        out.push_str(&format!("{INTERNAL_GW}={gw}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shell_forms() {
        let text = "# c\nexport LVS_ROUTING=\"NAT\"  # why\n LVS_INTERNAL_GW='10.0.0.254'\n";
        let (v, spans) = parse_lvs_routing_with_spans(text, "f").unwrap();
        assert_eq!(v.routing, Some(Routing::Nat));
        assert_eq!(v.internal_gw, Some("10.0.0.254".parse().unwrap()));
        let r = spans.routing.unwrap();
        assert_eq!((r.line, r.column), (2, 21));
    }

    #[test]
    fn a_trailing_semicolon_ends_the_command_as_in_the_shell() {
        let gw = |text: &str| parse_lvs_routing(text, "f").map(|v| v.internal_gw);
        let expected = Some("10.0.0.254".parse().unwrap());
        for text in [
            "LVS_INTERNAL_GW=10.0.0.254;\n",
            "LVS_INTERNAL_GW=\"10.0.0.254\";\n",
            "LVS_INTERNAL_GW='10.0.0.254' ;\n",
            "export LVS_INTERNAL_GW=10.0.0.254;  # the director's\n",
            "LVS_INTERNAL_GW=10.0.0.254;# no space\n",
            "LVS_INTERNAL_GW=10.0.0.254;\t\r\n",
        ] {
            assert_eq!(gw(text).unwrap(), expected, "{text:?}");
        }
        let (v, spans) =
            parse_lvs_routing_with_spans("LVS_ROUTING=NAT;  # comment\nLVS_INTERNAL_GW=;\n", "f")
                .unwrap();
        assert_eq!(v.routing, Some(Routing::Nat));
        // `X=;` is an empty assignment: unset, as without the `;`.
        assert_eq!(v.internal_gw, None);
        let r = spans.routing.unwrap();
        assert_eq!((r.line, r.column), (1, 13));
        // What `config export` writes stays the plain form.
        let written = to_lvs_routing_string(&LvsRouting {
            routing: Some(Routing::Nat),
            internal_gw: expected,
        });
        assert!(
            written.ends_with("LVS_ROUTING=NAT\nLVS_INTERNAL_GW=10.0.0.254\n"),
            "{written}"
        );
    }

    #[test]
    fn text_after_the_semicolon_is_refused_and_named() {
        for (text, message) in [
            (
                "LVS_INTERNAL_GW=10.0.0.254;rm\n",
                "f:1:17: error in LVS_INTERNAL_GW: unexpected text after the value: \";rm\"",
            ),
            (
                "LVS_INTERNAL_GW=10.0.0.254;;\n",
                "f:1:17: error in LVS_INTERNAL_GW: unexpected text after the value: \";;\"",
            ),
            (
                "LVS_ROUTING=\"NAT\"; LVS_INTERNAL_GW=1.2.3.4\n",
                "f:1:13: error in LVS_ROUTING: unexpected text after the value: \
                 \"; LVS_INTERNAL_GW=1.2.3.4\"",
            ),
        ] {
            let err = parse_lvs_routing(text, "f").unwrap_err();
            assert_eq!(err.len(), 1, "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "{message} (expected one value, optionally in matching quotes, then \
                     optionally ; and a # comment)"
                ),
                "{text:?}"
            );
        }
        // Inside quotes `;` is part of the value, as in the shell.
        let err = parse_lvs_routing("LVS_INTERNAL_GW=\"10.0.0.254;\"\n", "f").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f:1:18: error in LVS_INTERNAL_GW: invalid value \"10.0.0.254;\" \
             (expected an IPv4 or IPv6 address)"
        );
    }

    #[test]
    fn rejects_unknown_variable_with_position() {
        let err = parse_lvs_routing("LVS_ROUTNG=NAT\n", "/etc/default/lvs_routing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/default/lvs_routing:1:1: error in variable: unknown variable \"LVS_ROUTNG\" \
             (expected LVS_ROUTING or LVS_INTERNAL_GW)"
        );
    }
}
