//! Length-delimited frames (a 4-byte big-endian length, then the bytes) with a size limit, over
//! any byte stream; the channel runs them over TLS.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec, LengthDelimitedCodecError};

use crate::ChannelError;

pub(crate) type FrameStream<S> = Framed<S, LengthDelimitedCodec>;

/// Frames `stream`, refusing frames above `max_frame_bytes` both ways.
pub(crate) fn framed<S: AsyncRead + AsyncWrite>(
    stream: S,
    max_frame_bytes: usize,
) -> FrameStream<S> {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(max_frame_bytes)
        .new_codec();
    Framed::new(stream, codec)
}

/// `value` as one JSON frame, refused before anything is sent if it is above the limit.
pub fn encode_json<T: Serialize>(value: &T, max_frame_bytes: usize) -> Result<Bytes, ChannelError> {
    let raw = serde_json::to_vec(value).map_err(ChannelError::Malformed)?;
    check_size(raw.len(), max_frame_bytes)?;
    Ok(Bytes::from(raw))
}

pub(crate) fn check_size(size: usize, max: usize) -> Result<(), ChannelError> {
    if size > max {
        return Err(ChannelError::TooLarge { size, max });
    }
    Ok(())
}

/// Decodes one JSON frame.
pub(crate) fn decode_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(raw).map_err(ChannelError::Malformed)
}

/// Maps one item of the frame stream: the end is [`ChannelError::Closed`], a length above the
/// limit [`ChannelError::Oversized`].
pub(crate) fn received(
    next: Option<std::io::Result<bytes::BytesMut>>,
    max_frame_bytes: usize,
) -> Result<Bytes, ChannelError> {
    match next {
        None => Err(ChannelError::Closed),
        Some(Err(e))
            if e.get_ref()
                .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>()) =>
        {
            Err(ChannelError::Oversized {
                max: max_frame_bytes,
            })
        }
        Some(Err(e)) => Err(ChannelError::Io(e)),
        Some(Ok(raw)) => Ok(raw.freeze()),
    }
}

pub(crate) async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut FrameStream<S>,
    frame: Bytes,
    max_frame_bytes: usize,
) -> Result<(), ChannelError> {
    check_size(frame.len(), max_frame_bytes)?;
    framed.send(frame).await.map_err(ChannelError::Io)
}

pub(crate) async fn recv<S: AsyncRead + AsyncWrite + Unpin>(
    framed: &mut FrameStream<S>,
    max_frame_bytes: usize,
) -> Result<Bytes, ChannelError> {
    received(framed.next().await, max_frame_bytes)
}

/// Flushes and closes the stream (over TLS: close_notify), so the peer sees a clean end.
pub(crate) async fn close<S: AsyncRead + AsyncWrite + Unpin>(framed: &mut FrameStream<S>) {
    let _ = SinkExt::<Bytes>::close(framed).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Message {
        id: u64,
        body: String,
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, 1024), framed(b, 1024));
        let message = Message {
            id: 7,
            body: "five".into(),
        };
        send(&mut a, encode_json(&message, 1024).unwrap(), 1024)
            .await
            .unwrap();
        let got: Message = decode_json(&recv(&mut b, 1024).await.unwrap()).unwrap();
        assert_eq!(got, message);
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_both_ways() {
        let too_big = Message {
            id: 1,
            body: "x".repeat(64),
        };
        assert!(matches!(
            encode_json(&too_big, 16),
            Err(ChannelError::TooLarge { max: 16, .. })
        ));

        let (mut raw, b) = tokio::io::duplex(4096);
        let mut b = framed(b, 64);
        raw.write_all(&1000u32.to_be_bytes()).await.unwrap();
        raw.write_all(&[0; 100]).await.unwrap();
        let got = recv(&mut b, 64).await;
        assert!(matches!(got, Err(ChannelError::Oversized { max: 64 })));
    }

    #[tokio::test]
    async fn malformed_frames_are_reported_and_the_end_is_closed() {
        let (a, b) = tokio::io::duplex(4096);
        let (mut a, mut b) = (framed(a, 1024), framed(b, 1024));
        a.send(Bytes::from_static(b"{\"id\":1}")).await.unwrap();
        let raw = recv(&mut b, 1024).await.unwrap();
        assert!(matches!(
            decode_json::<Message>(&raw),
            Err(ChannelError::Malformed(_))
        ));
        drop(a);
        assert!(matches!(
            recv(&mut b, 1024).await,
            Err(ChannelError::Closed)
        ));
    }
}
