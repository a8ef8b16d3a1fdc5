//! A sans-IO decoder for `Transfer-Encoding: chunked` response bodies (RFC 9112 §7.1):
//! it consumes bytes from a buffer and yields data, trailers or the end, never reading a
//! socket itself, so every malformed shape can be tested without one.

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;

use super::head::parse_trailers;
use super::ExchangeError;

/// The longest chunk-size line accepted (size, extensions, CRLF). Extensions are ignored;
/// a line longer than this is an attack or a broken origin, not a chunk.
const MAX_SIZE_LINE: usize = 4096;
/// The largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;

/// What one decoding step produced.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The terminating chunk (and trailer section, if any) has been consumed.
    End,
    /// The buffer holds no complete step: read more.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Decoding state of one chunked body.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder { state: State::Size }
    }
}

impl ChunkedDecoder {
    /// True once the whole body, trailers included, has been consumed.
    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes what it can from `buf`. A malformed body is an error; the connection it came
    /// on must then be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, ExchangeError> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End),
                State::Size => {
                    let Some(line_end) = find_crlf(buf, MAX_SIZE_LINE)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let size = chunk_size(&buf[..line_end])?;
                    buf.advance(line_end + 2);
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(left) => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = (buf.len() as u64).min(left) as usize;
                    let data = buf.split_to(n).freeze();
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Decoded::Data(data));
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(ExchangeError::InvalidResponse(
                            "chunk data not followed by CRLF",
                        ));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    // No trailers: the terminating chunk is followed by one CRLF.
                    if buf.len() >= 2 && &buf[..2] == b"\r\n" {
                        buf.advance(2);
                        self.state = State::Done;
                        return Ok(Decoded::End);
                    }
                    let Some(end) = find(buf, b"\r\n\r\n", MAX_TRAILERS)? else {
                        return Ok(Decoded::NeedMore);
                    };
                    let section = buf.split_to(end + 4).freeze();
                    let trailers = parse_trailers(&section)?;
                    self.state = State::Done;
                    return Ok(Decoded::Trailers(trailers));
                }
            }
        }
    }
}

/// Position of the first CRLF, or None when more bytes are needed; an error when no CRLF
/// appears within `limit` bytes.
fn find_crlf(buf: &[u8], limit: usize) -> Result<Option<usize>, ExchangeError> {
    find(buf, b"\r\n", limit)
}

fn find(buf: &[u8], needle: &[u8], limit: usize) -> Result<Option<usize>, ExchangeError> {
    match buf.windows(needle.len()).position(|w| w == needle) {
        Some(at) if at <= limit => Ok(Some(at)),
        Some(_) => Err(ExchangeError::InvalidResponse(
            "chunk framing line too long",
        )),
        None if buf.len() > limit => Err(ExchangeError::InvalidResponse(
            "chunk framing line too long",
        )),
        None => Ok(None),
    }
}

/// The size of a chunk-size line: hex digits, then optional whitespace and `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, ExchangeError> {
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let rest = &line[digits_end..];
    let rest_ok = rest.is_empty()
        || rest
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .is_none_or(|i| rest[i] == b';');
    if digits_end == 0 || digits_end > 16 || !rest_ok {
        return Err(ExchangeError::InvalidResponse("bad chunk size"));
    }
    let mut size = 0u64;
    for &b in &line[..digits_end] {
        let digit = (b as char).to_digit(16).unwrap_or(0);
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(ExchangeError::InvalidResponse("bad chunk size"))?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, Option<HeaderMap>, bool), ExchangeError> {
        let mut d = ChunkedDecoder::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut trailers = None;
        // Feed one byte at a time: every state must cope with any split.
        for &b in input {
            buf.extend_from_slice(&[b]);
            loop {
                match d.decode(&mut buf)? {
                    Decoded::Data(bytes) => body.extend_from_slice(&bytes),
                    Decoded::Trailers(t) => trailers = Some(t),
                    Decoded::End | Decoded::NeedMore => break,
                }
            }
        }
        Ok((body, trailers, d.is_done()))
    }

    #[test]
    fn decodes_chunks_split_anywhere() {
        let (body, trailers, done) =
            decode_all(b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n")
                .expect("valid");
        assert_eq!(body, b"hello 0123456789");
        assert!(trailers.is_none());
        assert!(done);
    }

    #[test]
    fn yields_trailers() {
        let (body, trailers, done) =
            decode_all(b"3\r\nabc\r\n0\r\ngrpc-status: 0\r\nx-sum: 12\r\n\r\n").expect("valid");
        assert_eq!(body, b"abc");
        let t = trailers.expect("trailers");
        assert_eq!(t["grpc-status"], "0");
        assert_eq!(t["x-sum"], "12");
        assert!(done);
    }

    #[test]
    fn stops_at_the_end_leaving_what_follows() {
        let mut d = ChunkedDecoder::default();
        let mut buf = BytesMut::from(&b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200"[..]);
        assert_eq!(
            d.decode(&mut buf).expect("data"),
            Decoded::Data(Bytes::from_static(b"ok"))
        );
        assert_eq!(d.decode(&mut buf).expect("end"), Decoded::End);
        assert_eq!(&buf[..], b"HTTP/1.1 200");
    }

    #[test]
    fn refuses_malformed_framing() {
        for bad in [
            &b"zz\r\n"[..],
            b"-1\r\n",
            b"\r\n",
            b"5 x\r\n",
            b"11111111111111111\r\n",
            b"ffffffffffffffff1\r\n",
            b"3\r\nabcXY",
        ] {
            assert!(
                decode_all(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; MAX_SIZE_LINE + 10];
        assert!(decode_all(&long).is_err());
    }

    #[test]
    fn sizes_parse_in_hex_with_extensions() {
        assert_eq!(chunk_size(b"ff").ok(), Some(255));
        assert_eq!(chunk_size(b"A ; name=value").ok(), Some(10));
        assert_eq!(chunk_size(b"0").ok(), Some(0));
        assert!(chunk_size(b"").is_err());
    }
}
