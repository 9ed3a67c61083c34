//! TCP listeners (RFC 7766): length-prefixed messages, several in flight on
//! one connection (pipelining; answers may leave out of order, since an
//! update waits for the disk and a query does not), an idle timeout, and a
//! cap on concurrent connections.

use std::net::SocketAddr;
use std::sync::Arc;

use tandem_dns::{Outcome, Source, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::Shared;

/// Responses queued per connection before the reader waits for the writer.
const QUEUE: usize = 64;

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.tcp_max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("tcp accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Over the cap: close at once rather than queue (RFC 7766 §6.2.2).
            tracing::debug!("client {peer}: too many TCP connections, closing");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, peer, shared).await;
            drop(permit);
        });
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let mut framed = Vec::with_capacity(msg.len() + 2);
            framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            framed.extend_from_slice(&msg);
            if wr.write_all(&framed).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let source = Source {
        addr: peer.ip(),
        transport: Transport::Tcp,
    };
    let idle = shared.tcp_idle_timeout;
    // Grown to the largest message seen: most connections carry small
    // queries, and a zeroed 64 KiB per connection would be touched in full.
    let mut buf = Vec::new();
    loop {
        // The idle timer runs while we wait for the next message to start.
        let len = match tokio::time::timeout(idle, rd.read_u16()).await {
            Ok(Ok(n)) => n as usize,
            Ok(Err(_)) | Err(_) => break,
        };
        if buf.len() < len {
            buf.resize(len, 0);
        }
        // A message that starts must finish within the same allowance.
        match tokio::time::timeout(idle, rd.read_exact(&mut buf[..len])).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        match shared.handle(&buf[..len], source) {
            Outcome::Reply(bytes) => {
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Outcome::Drop => {}
            Outcome::Update(req) => {
                let tx = tx.clone();
                shared.submit_update(
                    req,
                    Box::new(move |bytes: Vec<u8>| {
                        let _ = tx.blocking_send(bytes);
                    }),
                );
            }
            Outcome::Notify(req) => {
                if tx.send(shared.notify(req)).await.is_err() {
                    break;
                }
            }
            Outcome::ForwardUpdate(u) => {
                let tx = tx.clone();
                shared.forward_update(
                    u,
                    Box::new(move |bytes: Vec<u8>| {
                        // Runs on a tokio task: never block it.
                        tokio::spawn(async move {
                            let _ = tx.send(bytes).await;
                        });
                    }),
                );
            }
            Outcome::Forward(req) => {
                if let Some(f) = &shared.forwarder {
                    let sink = || crate::forward::Sink::Tcp(tx.clone());
                    if let Some(out) = f.query(req, sink) {
                        if tx.send(out).await.is_err() {
                            break;
                        }
                    }
                }
            }
            Outcome::Transfer(req) => {
                let messages = shared.transfer(&req);
                for m in messages {
                    if tx.send(m).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    // Pending update callbacks hold senders; their answers still go out.
    drop(tx);
    let _ = writer.await;
}
