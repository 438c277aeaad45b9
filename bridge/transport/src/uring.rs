//! The io_uring back-end (`tokio-uring`): reads and writes submitted with owned buffers.
use std::net::SocketAddr;
use std::rc::Rc;

use crate::connections::Backend;
use crate::driver::{ReadOwned, WriteOwned};

pub(crate) struct Uring;

pub(crate) struct UringHalf(Rc<tokio_uring::net::TcpStream>);

impl ReadOwned for UringHalf {
    async fn read_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
        self.0.read(buf).await
    }
}

impl WriteOwned for UringHalf {
    async fn write_all_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        self.0.write_all(buf).await
    }
}

impl Backend for Uring {
    type Listener = tokio_uring::net::TcpListener;
    type Stream = tokio_uring::net::TcpStream;
    type Read = UringHalf;
    type Write = UringHalf;

    fn block_on<F: std::future::Future>(future: F) -> Option<F::Output> {
        // `resolve_transport` checked that a ring can be set up.
        Some(tokio_uring::start(future))
    }

    fn listener(listener: std::net::TcpListener) -> std::io::Result<Self::Listener> {
        Ok(tokio_uring::net::TcpListener::from_std(listener))
    }

    async fn accept(listener: &Self::Listener) -> std::io::Result<(Self::Stream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(addr: SocketAddr) -> std::io::Result<Self::Stream> {
        tokio_uring::net::TcpStream::connect(addr).await
    }

    fn split(stream: Self::Stream) -> (Self::Read, Self::Write) {
        let _ = stream.set_nodelay(true);
        let stream = Rc::new(stream);
        (UringHalf(stream.clone()), UringHalf(stream))
    }
}
