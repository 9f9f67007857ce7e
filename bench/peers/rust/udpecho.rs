// UDP echo peer: Rust standard library, recv_from then send_to.
use std::net::UdpSocket;

fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let socket = UdpSocket::bind(format!("127.0.0.1:{port}")).expect("bind");
    println!("listening on {}", socket.local_addr().unwrap());
    let mut buffer = [0u8; 65536];
    loop {
        if let Ok((n, peer)) = socket.recv_from(&mut buffer) {
            socket.send_to(&buffer[..n], peer).ok();
        }
    }
}
