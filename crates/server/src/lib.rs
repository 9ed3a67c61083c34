//! The tokio shell: sockets, drivers, control socket, reload and shutdown.
