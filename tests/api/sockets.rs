//! The server's own TCP sockets, found by their ports, for tests that check
//! a socket option on a database connection the server opened in this
//! process.
//!
//! A descriptor is duplicated through a pidfd (`pidfd_getfd`, Linux 5.6),
//! which hands back an owned copy: no raw descriptor is borrowed, so no
//! `unsafe`, and a descriptor closed meanwhile is an error, not a hazard.

use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};

use rustix::process::{getpid, pidfd_getfd, pidfd_open, PidfdFlags, PidfdGetfdFlags};
use socket2::SockRef;

/// Whether this process's TCP socket from port `local` to port `peer` has
/// `TCP_NODELAY` set; `None` when there is no such socket.
pub fn nodelay_of(local: u16, peer: u16) -> Option<bool> {
    let socket = socket_between(local, peer)?;
    SockRef::from(&socket).tcp_nodelay().ok()
}

/// A duplicate of this process's socket from port `local` to port `peer`.
fn socket_between(local: u16, peer: u16) -> Option<OwnedFd> {
    let me = pidfd_open(getpid(), PidfdFlags::empty()).expect("pidfd_open on this process");
    let port = |addr: std::io::Result<socket2::SockAddr>| {
        addr.ok()
            .and_then(|a| a.as_socket())
            .map(|a: SocketAddr| a.port())
    };
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok())
        .filter_map(|fd| pidfd_getfd(&me, fd, PidfdGetfdFlags::empty()).ok())
        .find(|copy| {
            let socket = SockRef::from(copy);
            port(socket.local_addr()) == Some(local) && port(socket.peer_addr()) == Some(peer)
        })
}

#[test]
fn finds_a_connected_socket_by_its_ports_and_reads_nodelay() {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let (local, peer) = (
        client.local_addr().unwrap().port(),
        client.peer_addr().unwrap().port(),
    );
    assert_eq!(nodelay_of(local, peer), Some(false));
    client.set_nodelay(true).unwrap();
    assert_eq!(nodelay_of(local, peer), Some(true));
    // No socket has the same port at both ends.
    assert_eq!(nodelay_of(local, local), None);
}
