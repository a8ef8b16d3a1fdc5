//! Handing a connection to hyper together with the bytes the loop has already read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, ReadBuf};

pin_project_lite::pin_project! {
    /// A stream whose reads return `prefix` first, then what the stream itself reads.
    pub struct Prefixed<S> {
        prefix: Bytes,
        #[pin]
        inner: S,
    }
}

impl<S> Prefixed<S> {
    /// `prefix` is read before anything from `inner`.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.prefix.is_empty() {
            return this.inner.poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

crate::io_delegate::delegate_async_write!(Prefixed);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn the_prefix_comes_first_even_through_small_reads() {
        let mut s = Prefixed::new(Bytes::from_static(b"hello "), &b"world"[..]);
        let mut small = [0u8; 4];
        let n = s.read(&mut small).await.unwrap_or(0);
        assert_eq!(&small[..n], b"hell");
        let mut rest = String::new();
        s.read_to_string(&mut rest).await.unwrap_or(0);
        assert_eq!(rest, "o world");
    }
}
