//! Feeds arbitrary bytes to every decoder of the local broker wire (the `ssinet-rsock-wire`
//! crate: request, reply, accept record, raw sockaddr) as one received message. Decoding must never panic, and whatever
//! decodes must survive encode -> decode unchanged; where the layout has no slack the encoding
//! must also give back the input bytes.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;
use ssinet_rsock_wire::{
    AcceptRecord, LocalReply, LocalRequest, MAX_BLOB, parse_sockaddr, sockaddr_bytes,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = LocalRequest::decode(data) {
        assert!(request.blob.len() <= MAX_BLOB);
        let encoded = request.encode();
        // Bytes 1..4 are padding the decoder ignores and the encoder writes as zeros.
        let mut expected = data.to_vec();
        expected[1..4].fill(0);
        assert_eq!(encoded, expected);
        assert_eq!(LocalRequest::decode(&encoded), Ok(request));
    }

    if let Ok(reply) = LocalReply::decode(data) {
        assert!(reply.blob.len() <= MAX_BLOB);
        let encoded = reply.encode();
        assert_eq!(encoded, data);
        assert_eq!(LocalReply::decode(&encoded), Ok(reply));
    }

    if let Ok(record) = AcceptRecord::decode(data) {
        let encoded = record.encode();
        assert_eq!(AcceptRecord::decode(&encoded), Ok(record));
    }

    match parse_sockaddr(data) {
        Ok(addr) => {
            let raw = sockaddr_bytes(&addr);
            assert_eq!(parse_sockaddr(&raw), Ok(addr));
            match addr {
                // sin_zero (bytes 8..16) is ignored on the way in and written as zeros.
                SocketAddr::V4(_) => {
                    assert_eq!(raw.len(), 16);
                    assert_eq!(raw[..8], data[..8]);
                    assert!(raw[8..].iter().all(|&b| b == 0));
                }
                SocketAddr::V6(_) => assert_eq!(raw, data[..28]),
            }
        }
        Err(bad) => {
            let errno = bad.errno().get();
            assert!(errno == 22 || errno == 97, "errno {errno}");
        }
    }
});
