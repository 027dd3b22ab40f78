//! `/etc/clustertab`: one node a line, whitespace separated: number, interconnect IP, MAC, boot
//! protocol (`E`/`P`), init-capable (`0`/`1`), local boot device. `#` starts a comment.

use std::fmt::Write as _;

use crate::cvip_parse::parse_u32;
use crate::diag::{Diagnostic, Diagnostics, LineIndex};
use crate::model::{BootProtocol, Clustertab, MacAddr, Node, NodeId};
use crate::spans::{ClustertabSpans, NodeSpans};

/// Column names, used in diagnostics so an operator can find the field on the line.
const FIELDS: [&str; 6] = [
    "node number",
    "interconnect IP",
    "MAC address",
    "boot protocol",
    "init-capable flag",
    "boot device",
];
const EXPECTED: [&str; 6] = [
    "a node number (1 or more)",
    "an IPv4 or IPv6 address",
    "a MAC address like 52:54:00:12:34:56",
    "E (Etherboot) or P (PXE)",
    "0 or 1",
    "a device like /dev/sda1",
];

/// Parses clustertab text; `file` names it in diagnostics.
pub fn parse_clustertab(text: &str, file: &str) -> Result<Clustertab, Diagnostics> {
    parse_clustertab_with_spans(text, file).map(|(tab, _)| tab)
}

/// Like [`parse_clustertab`], also returning where each value was written.
pub fn parse_clustertab_with_spans(
    text: &str,
    file: &str,
) -> Result<(Clustertab, ClustertabSpans), Diagnostics> {
    let index = LineIndex::new(text);
    let mut diagnostics = Diagnostics::default();
    let mut tab = Clustertab::default();
    let mut spans = ClustertabSpans {
        file: file.to_owned(),
        nodes: Vec::new(),
    };
    let mut line_start = 0;
    for raw_line in text.split_inclusive('\n') {
        let content = raw_line.split('#').next().unwrap_or_default();
        let tokens: Vec<(usize, &str)> = tokens(content)
            .map(|(offset, token)| (line_start + offset, token))
            .collect();
        let line_end = line_start + raw_line.trim_end_matches(['\n', '\r']).len();
        if !tokens.is_empty() {
            match parse_line(&tokens, line_end, &index, file) {
                Ok((node, node_spans)) => {
                    tab.nodes.push(node);
                    spans.nodes.push(node_spans);
                }
                Err(errors) => diagnostics.extend(errors),
            }
        }
        line_start += raw_line.len();
    }
    diagnostics.into_result().map(|()| (tab, spans))
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = line.char_indices().peekable();
    std::iter::from_fn(move || {
        while rest.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let (start, _) = *rest.peek()?;
        let mut end = line.len();
        for (i, c) in rest.by_ref() {
            if c.is_whitespace() {
                end = i;
                break;
            }
        }
        Some((start, &line[start..end]))
    })
}

fn parse_line(
    tokens: &[(usize, &str)],
    line_end: usize,
    index: &LineIndex<'_>,
    file: &str,
) -> Result<(Node, NodeSpans), Diagnostics> {
    let mut diagnostics = Diagnostics::default();
    let at = |offset: usize| Some(index.position(offset));
    let mut bad = |column: usize, offset: usize, message: String| {
        diagnostics.push(
            Diagnostic::new(file, at(offset), FIELDS[column], message).expected(EXPECTED[column]),
        );
    };
    let mut extra_field = None;
    if tokens.len() < 5 {
        let missing = FIELDS[tokens.len()];
        bad(
            tokens.len(),
            line_end,
            format!(
                "line ends before the {missing} (field {})",
                tokens.len() + 1
            ),
        );
        return Err(diagnostics);
    }
    if let Some(&(offset, token)) = tokens.get(6) {
        extra_field = Some(
            Diagnostic::new(
                file,
                at(offset),
                "line",
                format!("unexpected 7th field {token:?}"),
            )
            .expected(
                "at most 6 fields: number, IP, MAC, boot protocol, init-capable, boot device",
            ),
        );
    }
    let field = |i: usize| tokens[i];

    let num = parse_u32(field(0).1).map(|n| NodeId(u64::from(n)));
    let ip = field(1).1.parse().ok();
    let mac = field(2).1.parse::<MacAddr>().ok();
    let boot = match field(3).1 {
        "E" | "e" => Some(BootProtocol::Etherboot),
        "P" | "p" => Some(BootProtocol::Pxe),
        _ => None,
    };
    let init_capable = match field(4).1 {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    };
    let checks = [
        num.is_some(),
        ip.is_some(),
        mac.is_some(),
        boot.is_some(),
        init_capable.is_some(),
    ];
    for (i, ok) in checks.into_iter().enumerate() {
        if !ok {
            let (offset, token) = field(i);
            bad(i, offset, format!("invalid value {token:?}"));
        }
    }
    if let Some(extra) = extra_field {
        diagnostics.push(extra);
    }
    match (num, ip, mac, boot, init_capable) {
        (Some(num), Some(ip), Some(mac), Some(boot), Some(init_capable))
            if diagnostics.is_empty() =>
        {
            let position = |i: usize| index.position(field(i).0);
            let node = Node {
                num,
                ip,
                mac,
                boot,
                init_capable,
                boot_device: tokens.get(5).map(|t| t.1.to_owned()),
            };
            let spans = NodeSpans {
                num: position(0),
                ip: position(1),
                mac: position(2),
                boot: position(3),
                init_capable: position(4),
                boot_device: tokens.get(5).map(|t| index.position(t.0)),
            };
            Ok((node, spans))
        }
        _ => Err(diagnostics),
    }
}

/// Writes a clustertab OpenSSI reads; parsing it again gives `tab` back.
pub fn to_clustertab_string(tab: &Clustertab) -> String {
    let mut out = String::from(
        "# /etc/clustertab: one node a line (written by ssinet).\n\
         # node  interconnect-IP  MAC  boot(E|P)  init-capable(0|1)  [boot-device]\n",
    );
    for node in &tab.nodes {
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            node.num,
            node.ip,
            node.mac,
            node.boot.letter(),
            u8::from(node.init_capable)
        );
        if let Some(device) = &node.boot_device {
            let _ = write!(out, "\t{device}");
        }
        out.push('\n');
    }
    out
}
