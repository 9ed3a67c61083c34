//! DNS over TCP as a client: the connection a secondary opens to its
//! primary for transfers and forwarded updates.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to`, from `source` when given (a primary's
/// `allow-transfer` often names the secondary's address).
pub(crate) async fn connect(
    to: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let sock = if to.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| format!("cannot open a TCP socket: {e}"))?;
    if let Some(ip) = source {
        sock.bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("cannot bind to {ip}: {e}"))?;
    }
    let s = tokio::time::timeout(timeout, sock.connect(to))
        .await
        .map_err(|_| format!("no connection in {} ms", timeout.as_millis()))?
        .map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Writes one message with its length prefix (RFC 1035 §4.2.2).
pub(crate) async fn send(s: &mut TcpStream, msg: &[u8]) -> Result<(), String> {
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    framed.extend_from_slice(msg);
    s.write_all(&framed).await.map_err(|e| format!("send: {e}"))
}

/// Reads one message, waiting at most `timeout`.
pub(crate) async fn recv(s: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>, String> {
    let read = async {
        let len = s.read_u16().await? as usize;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err("the primary closed the connection".into())
        }
        Ok(Err(e)) => Err(format!("receive: {e}")),
        Err(_) => Err(format!("no answer in {} ms", timeout.as_millis())),
    }
}

/// Sends `msg` and returns the first answer with its ID.
pub(crate) async fn exchange(
    s: &mut TcpStream,
    msg: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    send(s, msg).await?;
    let id = &msg[..2];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let answer = recv(s, left).await?;
        // Only a response with our ID counts; anything else is skipped
        // until the deadline.
        if answer.len() >= 12 && &answer[..2] == id && answer[2] & 0x80 != 0 {
            return Ok(answer);
        }
    }
}
