//! `/etc/default/lvs_routing`: shell-style `LVS_ROUTING=NAT|DR` and `LVS_INTERNAL_GW=<ip>`.
//! Quotes, `export` and `#` comments are accepted as a shell would read them; any other variable
//! is an error, because a misspelt name would otherwise be silently ignored.

use crate::diag::{Diagnostic, Diagnostics, LineIndex};
use crate::model::{LvsRouting, Routing};
use crate::spans::LvsRoutingSpans;

const ROUTING: &str = "LVS_ROUTING";
const INTERNAL_GW: &str = "LVS_INTERNAL_GW";

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
                diagnostics.push(
                    Diagnostic::new(file, at(rest), key, message)
                        .expected("a value, optionally in matching quotes"),
                );
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
/// whitespace and comment (`X=a#b` is the word `a#b`, as in the shell).
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
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        }
    };
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
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
    fn rejects_unknown_variable_with_position() {
        let err = parse_lvs_routing("LVS_ROUTNG=NAT\n", "/etc/default/lvs_routing").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/default/lvs_routing:1:1: error in variable: unknown variable \"LVS_ROUTNG\" \
             (expected LVS_ROUTING or LVS_INTERNAL_GW)"
        );
    }
}
