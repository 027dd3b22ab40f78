//! Feeds arbitrary bytes to the control protocol decoder as one frame payload (without its
//! length prefix), under the default frame limit. Decoding must never panic; what decodes must
//! satisfy the validation rules, and must survive encode -> decode unchanged. The same bytes
//! under a limit one byte too small are refused as too large.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ssinet_rsock::protocol::{Answer, DEFAULT_MAX_FRAME, Frame, FrameError, MAX_OPTION_LEN, Op};

fuzz_target!(|data: &[u8]| {
    if let Some(max) = data.len().checked_sub(1) {
        assert_eq!(
            Frame::decode(data, max),
            Err(FrameError::TooLarge {
                len: data.len(),
                max
            })
        );
    }
    let Ok(frame) = Frame::decode(data, DEFAULT_MAX_FRAME) else {
        return;
    };
    match &frame {
        Frame::Request {
            op: Op::SetSockOpt { value, .. },
            ..
        } => assert!(value.len() <= MAX_OPTION_LEN),
        Frame::Request {
            op: Op::GetSockOpt { len, .. },
            ..
        } => assert!(*len as usize <= MAX_OPTION_LEN),
        Frame::Reply {
            result: Ok(Answer::Value(value)),
            ..
        } => assert!(value.len() <= MAX_OPTION_LEN),
        Frame::Reply {
            result: Err(errno), ..
        } => assert!((1..=4095).contains(errno)),
        _ => {}
    }
    // The canonical encoding may be a few bytes longer than the input (an IPv4-mapped address
    // written in hex, say), so the second decode is not held to the first one's limit.
    let encoded = frame.encode();
    let again = Frame::decode(&encoded, usize::MAX)
        .unwrap_or_else(|e| panic!("our own encoding does not decode: {e}"));
    assert_eq!(again, frame);
    assert_eq!(again.encode(), encoded);
});
