//! The control protocol between agents: serde_json frames behind a 4-byte length prefix on the
//! mutually authenticated connection of a node pair. Every request carries an id its reply
//! echoes; pushes (accepted connections, closes) travel unasked.

use ssinet_interconnect::NodeId;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change; a peer with another version is refused at HELLO.
pub const PROTOCOL_VERSION: u32 = 1;
/// Default upper bound of one frame's payload.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
/// Largest socket option value accepted in either direction.
pub const MAX_OPTION_LEN: usize = 1024;
/// [`MAX_OPTION_LEN`] as the type of a getsockopt request's buffer length.
pub const MAX_OPTION_LEN_U32: u32 = 1024;
const _: () = assert!(MAX_OPTION_LEN_U32 as usize == MAX_OPTION_LEN);

/// A socket's identity, stable for the socket's life and never reused: the origin agent's node,
/// its boot epoch (new on every agent start) and a sequence number within that epoch. Ready for
/// live re-attachment, which only needs to find the socket again by this triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SocketId {
    pub node: NodeId,
    pub epoch: u64,
    pub seq: u64,
}

impl std::fmt::Display for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{:x}:{}", self.node, self.epoch, self.seq)
    }
}

/// The calling process as the local kernel reported it by SO_PEERCRED, plus whether it holds
/// CAP_NET_BIND_SERVICE / CAP_NET_ADMIN (read from /proc on the caller's node).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creds {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    pub net_bind_service: bool,
    pub net_admin: bool,
}

/// A request to the origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Create {
        domain: i32,
        kind: i32,
        protocol: i32,
        creds: Creds,
    },
    SetSockOpt {
        id: SocketId,
        level: i32,
        name: i32,
        value: Vec<u8>,
        creds: Creds,
    },
    GetSockOpt {
        id: SocketId,
        level: i32,
        name: i32,
        len: u32,
    },
    Bind {
        id: SocketId,
        addr: SocketAddr,
        creds: Creds,
    },
    Listen {
        id: SocketId,
        backlog: i32,
    },
    Connect {
        id: SocketId,
        addr: SocketAddr,
    },
    Shutdown {
        id: SocketId,
        how: i32,
    },
    GetName {
        id: SocketId,
        peer: bool,
    },
    /// The last reference on the caller's side is gone; once the data connection drained, the
    /// origin closes the real socket (with a RST if SO_LINGER 0 was set).
    Close {
        id: SocketId,
    },
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// The socket exists; a data connection presenting `token` binds to it.
    Created {
        id: SocketId,
        token: u128,
    },
    Done,
    Value(Vec<u8>),
    Address(SocketAddr),
    Connected {
        local: SocketAddr,
        peer: SocketAddr,
    },
}

/// Something the origin tells the caller's node without being asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Push {
    /// A listening socket accepted a connection; the caller dials a data connection with `token`.
    Accepted {
        listener: SocketId,
        id: SocketId,
        token: u128,
        local: SocketAddr,
        peer: SocketAddr,
    },
}

/// One frame on the control connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    Hello {
        node: NodeId,
        epoch: u64,
        version: u32,
    },
    Request {
        req: u64,
        op: Op,
    },
    /// `Err` holds the errno the kernel would have returned.
    Reply {
        req: u64,
        result: Result<Answer, i32>,
    },
    Push(Push),
    Ping {
        seq: u64,
    },
    Pong {
        seq: u64,
    },
}

/// Why a frame was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error(
        "frame of {len} bytes exceeds the limit of {max}; the peer is misbehaving or runs another version"
    )]
    TooLarge { len: usize, max: usize },
    #[error(
        "frame does not decode: {0}; the peer runs an incompatible version or the stream is corrupt"
    )]
    Decode(String),
    #[error("frame is invalid: {0}")]
    Invalid(&'static str),
}

impl Frame {
    /// The payload bytes (without the length prefix the codec adds).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("frames hold no maps with non-string keys")
    }

    /// Decodes and validates one payload of at most `max` bytes.
    pub fn decode(bytes: &[u8], max: usize) -> Result<Frame, FrameError> {
        if bytes.len() > max {
            return Err(FrameError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
        let frame: Frame =
            serde_json::from_slice(bytes).map_err(|e| FrameError::Decode(e.to_string()))?;
        frame.validate()?;
        Ok(frame)
    }

    fn validate(&self) -> Result<(), FrameError> {
        match self {
            Frame::Request {
                op: Op::SetSockOpt { value, .. },
                ..
            } if value.len() > MAX_OPTION_LEN => Err(FrameError::Invalid("option value too long")),
            Frame::Request {
                op: Op::GetSockOpt { len, .. },
                ..
            } if *len > MAX_OPTION_LEN_U32 => Err(FrameError::Invalid("option buffer too long")),
            Frame::Reply {
                result: Ok(Answer::Value(value)),
                ..
            } if value.len() > MAX_OPTION_LEN => Err(FrameError::Invalid("option value too long")),
            Frame::Reply {
                result: Err(errno), ..
            } if *errno <= 0 || *errno > 4095 => Err(FrameError::Invalid("errno out of range")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        ]
    }

    fn id() -> impl Strategy<Value = SocketId> {
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(node, epoch, seq)| SocketId {
            node: NodeId(node),
            epoch,
            seq,
        })
    }

    fn creds() -> impl Strategy<Value = Creds> {
        any::<(i32, u32, u32, bool, bool)>().prop_map(|c| Creds {
            pid: c.0,
            uid: c.1,
            gid: c.2,
            net_bind_service: c.3,
            net_admin: c.4,
        })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (
                any::<i32>(),
                any::<i32>(),
                any::<i32>(),
                any::<(i32, u32, u32, bool, bool)>()
            )
                .prop_map(|(domain, kind, protocol, c)| Op::Create {
                    domain,
                    kind,
                    protocol,
                    creds: Creds {
                        pid: c.0,
                        uid: c.1,
                        gid: c.2,
                        net_bind_service: c.3,
                        net_admin: c.4
                    }
                }),
            (
                id(),
                any::<i32>(),
                any::<i32>(),
                proptest::collection::vec(any::<u8>(), 0..64),
                creds()
            )
                .prop_map(|(id, level, name, value, creds)| Op::SetSockOpt {
                    id,
                    level,
                    name,
                    value,
                    creds
                }),
            (id(), addr(), creds()).prop_map(|(id, addr, creds)| Op::Bind { id, addr, creds }),
            (id(), addr()).prop_map(|(id, addr)| Op::Connect { id, addr }),
            (id(), any::<bool>()).prop_map(|(id, peer)| Op::GetName { id, peer }),
            id().prop_map(|id| Op::Close { id }),
        ]
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (any::<u64>().prop_map(NodeId), any::<u64>(), any::<u32>()).prop_map(
                |(node, epoch, version)| {
                    Frame::Hello {
                        node,
                        epoch,
                        version,
                    }
                }
            ),
            (any::<u64>(), op()).prop_map(|(req, op)| Frame::Request { req, op }),
            (any::<u64>(), 1..4096i32).prop_map(|(req, e)| Frame::Reply {
                req,
                result: Err(e)
            }),
            (any::<u64>(), addr(), addr()).prop_map(|(req, local, peer)| Frame::Reply {
                req,
                result: Ok(Answer::Connected { local, peer })
            }),
            (id(), id(), any::<u128>(), addr(), addr()).prop_map(
                |(listener, id, token, local, peer)| {
                    Frame::Push(Push::Accepted {
                        listener,
                        id,
                        token,
                        local,
                        peer,
                    })
                }
            ),
            any::<u64>().prop_map(|seq| Frame::Ping { seq }),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(frame in frame()) {
            let bytes = frame.encode();
            prop_assert_eq!(Frame::decode(&bytes, DEFAULT_MAX_FRAME).unwrap(), frame);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frame::decode(&bytes, DEFAULT_MAX_FRAME);
        }
    }

    #[test]
    fn oversized_frames_are_refused() {
        let frame = Frame::Ping { seq: 1 }.encode();
        assert!(matches!(
            Frame::decode(&frame, 4),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn oversized_option_values_are_refused() {
        let frame = Frame::Request {
            req: 1,
            op: Op::SetSockOpt {
                id: SocketId {
                    node: NodeId(1),
                    epoch: 1,
                    seq: 1,
                },
                level: 1,
                name: 2,
                value: vec![0; MAX_OPTION_LEN + 1],
                creds: Creds {
                    pid: 1,
                    uid: 0,
                    gid: 0,
                    net_bind_service: false,
                    net_admin: false,
                },
            },
        };
        assert_eq!(
            Frame::decode(&frame.encode(), 1 << 20),
            Err(FrameError::Invalid("option value too long"))
        );
    }
}
