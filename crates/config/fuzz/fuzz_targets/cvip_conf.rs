//! Any text: parsing never panics, diagnostics have positions inside the text, and what parses
//! writes back to the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_config::{parse_cvip_conf, to_cvip_conf_string};

fuzz_target!(|text: &str| {
    match parse_cvip_conf(text, "cvip.conf") {
        Ok(conf) => {
            let written = to_cvip_conf_string(&conf);
            let again = parse_cvip_conf(&written, "cvip.conf")
                .unwrap_or_else(|e| panic!("written cvip.conf does not parse: {e}\n{written}"));
            assert_eq!(again, conf);
        }
        Err(diagnostics) => {
            let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
            for d in &diagnostics {
                assert!(d.line.is_some_and(|l| l >= 1 && l <= lines), "{d}");
            }
        }
    }
});
