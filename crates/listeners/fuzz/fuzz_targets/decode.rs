//! Feeds arbitrary bytes to the sock_diag reply decoder as one received datagram: the first
//! byte picks the dump (TCP/UDP, IPv4/IPv6), the rest is the datagram, decoded with the
//! sequence number 7 (seed replies use it). Decoding must never panic, and every listener it
//! returns must be of the requested protocol and address family, on a non-zero port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_config::Protocol;
use ssinet_listeners::{DumpRequest, decode_dump_part};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, datagram)) = data.split_first() else {
        return;
    };
    let request = DumpRequest {
        proto: if selector & 1 == 0 {
            Protocol::Tcp
        } else {
            Protocol::Udp
        },
        ipv6: selector & 2 != 0,
    };
    if let Ok(part) = decode_dump_part(datagram, request, 7) {
        for listener in part.listeners {
            assert_eq!(listener.proto, request.proto);
            assert_eq!(listener.addr.is_ipv6(), request.ipv6);
            assert_ne!(listener.port, 0);
        }
    }
});
