//! Feeds arbitrary bytes to the IPVS decoders as the kernel's replies would arrive: the first
//! byte is the generic netlink command, the rest the attributes; and the whole input as a
//! netlink frame. Decoding must never panic, and whatever decodes must survive
//! encode -> decode unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlink_packet_core::NetlinkMessage;
use netlink_packet_generic::GenlMessage;
use ssinet_ipvs::IpvsMessage;

fuzz_target!(|data: &[u8]| {
    if let Some((&cmd, attrs)) = data.split_first() {
        if let Ok(msg) = IpvsMessage::decode(cmd, attrs) {
            let again = IpvsMessage::decode(msg.command() as u8, &msg.encode_attrs())
                .expect("our own encoding decodes");
            assert_eq!(again, msg);
        }
    }
    let _ = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(data);
});
