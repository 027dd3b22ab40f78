//! Any text: parsing never panics, and what parses writes back to the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_config::{parse_clustertab, to_clustertab_string};

fuzz_target!(|text: &str| {
    if let Ok(tab) = parse_clustertab(text, "clustertab") {
        let again = parse_clustertab(&to_clustertab_string(&tab), "clustertab")
            .expect("a written clustertab parses");
        assert_eq!(again, tab);
    }
});
