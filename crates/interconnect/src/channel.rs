//! An open channel: frames to and from one authenticated peer node.

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

use crate::frame::{self, FrameStream};
use crate::{ChannelError, NodeId};

type Stream = FrameStream<TlsStream<TcpStream>>;

/// One mutually authenticated connection to `peer`, made by [`crate::dial`] or an
/// [`crate::Acceptor`]; frames in both directions, each at most the limit it was opened with.
///
/// Requests and replies are the service's business: a service that answers one request at a
/// time uses [`Channel::send`] and [`Channel::recv`]; one that talks both ways at once splits it.
pub struct Channel {
    stream: Stream,
    peer: NodeId,
    max_frame_bytes: usize,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("peer", &self.peer)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .finish_non_exhaustive()
    }
}

impl Channel {
    pub(crate) fn new(stream: Stream, peer: NodeId, max_frame_bytes: usize) -> Self {
        Self {
            stream,
            peer,
            max_frame_bytes,
        }
    }

    /// The node at the other end, as its certificate names it.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// The largest frame sent or accepted.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Sends one frame; one above the limit is refused and nothing is sent.
    pub async fn send(&mut self, frame: Bytes) -> Result<(), ChannelError> {
        frame::send(&mut self.stream, frame, self.max_frame_bytes).await
    }

    /// The next frame; [`ChannelError::Closed`] once the peer has closed.
    pub async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        frame::recv(&mut self.stream, self.max_frame_bytes).await
    }

    /// Sends `value` as one JSON frame.
    pub async fn send_json<T: Serialize>(&mut self, value: &T) -> Result<(), ChannelError> {
        let frame = frame::encode_json(value, self.max_frame_bytes)?;
        self.send(frame).await
    }

    /// The next frame, decoded from JSON.
    pub async fn recv_json<T: DeserializeOwned>(&mut self) -> Result<T, ChannelError> {
        frame::decode_json(&self.recv().await?)
    }

    /// Closes cleanly (TLS close_notify), so the peer sees the end rather than a reset.
    pub async fn close(&mut self) {
        frame::close(&mut self.stream).await;
    }

    /// Separates the two directions, for a service that reads and writes at the same time.
    pub fn split(self) -> (ChannelWriter, ChannelReader) {
        let (sink, stream) = self.stream.split();
        (
            ChannelWriter {
                sink,
                max_frame_bytes: self.max_frame_bytes,
            },
            ChannelReader {
                stream,
                max_frame_bytes: self.max_frame_bytes,
            },
        )
    }
}

/// The sending half of a split [`Channel`].
pub struct ChannelWriter {
    sink: SplitSink<Stream, Bytes>,
    max_frame_bytes: usize,
}

impl ChannelWriter {
    /// Sends one frame; one above the limit is refused and nothing is sent.
    pub async fn send(&mut self, frame: Bytes) -> Result<(), ChannelError> {
        frame::check_size(frame.len(), self.max_frame_bytes)?;
        self.sink.send(frame).await.map_err(ChannelError::Io)
    }

    /// Closes the connection cleanly.
    pub async fn close(&mut self) {
        let _ = self.sink.close().await;
    }
}

/// The receiving half of a split [`Channel`].
pub struct ChannelReader {
    stream: SplitStream<Stream>,
    max_frame_bytes: usize,
}

impl ChannelReader {
    /// The next frame; [`ChannelError::Closed`] once the peer has closed.
    pub async fn recv(&mut self) -> Result<Bytes, ChannelError> {
        frame::received(self.stream.next().await, self.max_frame_bytes)
    }
}
