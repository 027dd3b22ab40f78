//! Any text: parsing never panics, and what parses writes back to the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_config::{parse_lvs_routing, to_lvs_routing_string};

fuzz_target!(|text: &str| {
    if let Ok(value) = parse_lvs_routing(text, "lvs_routing") {
        let again = parse_lvs_routing(&to_lvs_routing_string(&value), "lvs_routing")
            .expect("a written lvs_routing parses");
        assert_eq!(again, value);
    }
});
