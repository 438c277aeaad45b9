//! The epoll back-end (`tokio`'s reactor): the fallback where io_uring is unavailable.
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::connections::Backend;
use crate::driver::{ReadOwned, WriteOwned};

pub(crate) struct Epoll;

pub(crate) struct EpollRead(OwnedReadHalf);
pub(crate) struct EpollWrite(OwnedWriteHalf);

impl ReadOwned for EpollRead {
    async fn read_owned(&mut self, mut buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
        let read = self.0.read(&mut buf).await;
        (read, buf)
    }
}

impl WriteOwned for EpollWrite {
    async fn write_all_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let written = self.0.write_all(&buf).await;
        (written, buf)
    }
}

impl Backend for Epoll {
    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;
    type Read = EpollRead;
    type Write = EpollWrite;

    fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(err) => {
                tracing::error!(error = %err, "bridge: cannot start the epoll runtime");
                return None;
            }
        };
        // A LocalSet, as tokio-uring's runtime has: connections are `spawn_local` tasks.
        Some(tokio::task::LocalSet::new().block_on(&runtime, future))
    }

    fn listener(listener: std::net::TcpListener) -> std::io::Result<Self::Listener> {
        tokio::net::TcpListener::from_std(listener)
    }

    async fn accept(listener: &Self::Listener) -> std::io::Result<(Self::Stream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(addr: SocketAddr) -> std::io::Result<Self::Stream> {
        tokio::net::TcpStream::connect(addr).await
    }

    fn split(stream: Self::Stream) -> (Self::Read, Self::Write) {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        (EpollRead(read), EpollWrite(write))
    }
}
