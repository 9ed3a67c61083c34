//! The control socket: a Unix stream socket that takes one command per
//! line (`reload`, `status`) and answers with lines, the last of which
//! starts with `ok` or `error`. `tandem reload` is its client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::Shared;

/// Binds the socket, replacing a stale one left by a crash.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

pub async fn serve(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = session(stream, shared).await;
        });
    }
}

async fn session(stream: UnixStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match line.trim() {
            "reload" => {
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || shared.reload())
                    .await
                    .unwrap_or_else(|e| format!("error: reload failed: {e}\n"))
            }
            "status" => shared.status(),
            "leases" => shared.leases(),
            cmd if cmd
                .split_whitespace()
                .take(2)
                .eq(["failover", "partner-down"]) =>
            {
                let name = cmd.split_whitespace().nth(2).map(str::to_string);
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || shared.partner_down(name.as_deref()))
                    .await
                    .unwrap_or_else(|e| format!("error: {e}\n"))
            }
            cmd if matches!(
                cmd.split_whitespace().take(2).collect::<Vec<_>>()[..],
                ["failover", "pause" | "shut-down" | "resume"]
            ) =>
            {
                let mut words = cmd.split_whitespace().skip(1);
                let what = words.next().unwrap_or_default().to_string();
                let name = words.next().map(str::to_string);
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || {
                    shared.failover_operator(&what, name.as_deref())
                })
                .await
                .unwrap_or_else(|e| format!("error: {e}\n"))
            }
            "" => continue,
            other => format!("error: unknown command {other:?} (try reload, status, leases)\n"),
        };
        wr.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Sends one command to a running server and returns its answer.
pub fn request(path: &PathBuf, command: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.write_all(format!("{command}\n").as_bytes())?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
