//! Turns off Nagle's algorithm on the pool's TCP connections to PostgreSQL.
//!
//! sqlx opens its sockets without `TCP_NODELAY` and offers no option for it
//! (libpq and node-postgres set it). A message that ends in a partial TCP
//! segment then waits for the server to acknowledge the segments before it,
//! and the server delays that acknowledgement by up to 40 ms: every
//! `logBatch` of 100 took 48 ms for 3.5 ms of work (BENCHMARKS.md). sqlx does
//! not hand out its socket, so the connection's socket is found among this
//! process's file descriptors by the two ports PostgreSQL reports for it.

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};

use sea_orm::sqlx::{self, PgConnection};
use socket2::SockRef;

/// Sets `TCP_NODELAY` on the socket under `conn`. Returns whether it found
/// one: a connection over a Unix socket, or through a proxy that hides the
/// client's port, has none to set (and needs none).
pub async fn disable_nagle(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let (client, server): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()")
            .fetch_one(&mut *conn)
            .await?;
    let (Some(client), Some(server)) = (client, server) else {
        return Ok(false);
    };
    let (Ok(local), Ok(peer)) = (u16::try_from(client), u16::try_from(server)) else {
        return Ok(false);
    };
    Ok(set_nodelay_on(local, peer))
}

/// Sets `TCP_NODELAY` on this process's TCP sockets whose local port is
/// `local` and whose peer's port is `peer`; whether there was one.
pub fn set_nodelay_on(local: u16, peer: u16) -> bool {
    let mut found = false;
    with_sockets(local, peer, |socket| {
        found |= socket.set_tcp_nodelay(true).is_ok();
    });
    found
}

/// Whether this process's TCP socket from port `local` to port `peer` has
/// `TCP_NODELAY` set; `None` when there is no such socket.
pub fn nodelay_of(local: u16, peer: u16) -> Option<bool> {
    let mut seen = None;
    with_sockets(local, peer, |socket| {
        seen = socket.tcp_nodelay().ok();
    });
    seen
}

/// Calls `f` with each of this process's sockets from port `local` to port `peer`.
fn with_sockets(local: u16, peer: u16, mut f: impl FnMut(SockRef<'_>)) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for fd in entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
    {
        // SAFETY: the descriptor is only asked for its addresses and given a
        // socket option; on a descriptor closed or reused meanwhile those
        // calls fail or do not match both ports, and nothing is read or
        // written through it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&fd);
        let port = |addr: std::io::Result<socket2::SockAddr>| {
            addr.ok()
                .and_then(|a| a.as_socket())
                .map(|a: SocketAddr| a.port())
        };
        if port(socket.local_addr()) == Some(local) && port(socket.peer_addr()) == Some(peer) {
            f(socket);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn finds_a_connected_socket_by_its_ports_and_sets_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert!(!client.nodelay().unwrap());
        let (local, peer) = (
            client.local_addr().unwrap().port(),
            client.peer_addr().unwrap().port(),
        );
        assert!(set_nodelay_on(local, peer));
        assert!(client.nodelay().unwrap());
        // The other end of the same connection has the ports the other way round.
        assert!(!server.nodelay().unwrap());
    }

    #[test]
    fn touches_nothing_when_no_socket_matches() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let local = client.local_addr().unwrap().port();
        assert!(!set_nodelay_on(local, local));
        assert!(!client.nodelay().unwrap());
    }
}
