//! Just enough of an IRC client (RFC 1459/2812) for the chat fan-out
//! scenarios against real IRC servers: register (`NICK`/`USER`, wait for
//! `001`), join one channel (wait for `366`, the end of its member list),
//! answer `PING`, and wrap each bench line in `PRIVMSG <channel> :…`. The
//! lines the server relays (`:nick!user@host PRIVMSG #room :@T…@S…@N…@ …`)
//! keep the bench line whole, so `chat_stamp` finds its stamps as it does in
//! Parley's lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long registration and the join may take, per client.
const PATIENCE: Duration = Duration::from_secs(30);

/// The nick of client `i` (short: ngIRCd allows 9 characters by default).
pub fn nick(i: usize) -> String {
    format!("b{i}")
}

/// `PRIVMSG <channel> :<line>\r\n`, appended to `out`.
pub fn privmsg(out: &mut Vec<u8>, channel: &str, line: &[u8]) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(channel.as_bytes());
    out.extend_from_slice(b" :");
    out.extend_from_slice(line);
    out.extend_from_slice(b"\r\n");
}

/// The `PONG` answering `line` when it is a `PING` (`PING :token`), appended to `out`.
pub fn answer_ping(out: &mut Vec<u8>, line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(rest) = line.strip_prefix(b"PING") else { return false };
    out.extend_from_slice(b"PONG");
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n");
    true
}

/// The numeric or command of a server line (`:server 001 nick …` → `001`).
fn command(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if first.starts_with(':') {
        words.next()
    } else {
        Some(first)
    }
}

fn fail(i: usize, what: &str) -> ! {
    eprintln!("loadgen: IRC client {}: {what}", nick(i));
    std::process::exit(1);
}

/// Reads `stream` until a line whose command is `code`, answering pings;
/// what follows that line stays in `partial`. An `ERROR` or an error
/// numeric (4xx, 5xx) from the server ends the run with its text.
fn await_reply(i: usize, stream: &mut TcpStream, partial: &mut Vec<u8>, code: &str) {
    let deadline = Instant::now() + PATIENCE;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while let Some(end) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            let mut pong = vec![];
            if answer_ping(&mut pong, line.strip_suffix(b"\n").unwrap_or(&line)) {
                stream.write_all(&pong).unwrap_or_else(|e| fail(i, &format!("cannot answer PING: {e}")));
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            match command(&text) {
                Some(c) if c == code => return,
                Some("ERROR") => fail(i, text.trim()),
                Some(c) if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => fail(i, text.trim()),
                _ => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            fail(i, &format!("no {code} within {} s", PATIENCE.as_secs()));
        }
        stream.set_read_timeout(Some(left)).ok();
        match stream.read(&mut chunk) {
            Ok(0) => fail(i, &format!("the server closed the connection before {code}")),
            Ok(n) => partial.extend_from_slice(&chunk[..n]),
            Err(e) => fail(i, &format!("waiting for {code}: {e}")),
        }
    }
}

/// Registers `streams` (client `first + k` for the k-th) and joins them to
/// `channel`, all registrations in flight at once; returns the bytes each
/// has read past its join (the start of an unfinished line at most).
pub fn register_and_join(streams: &mut [TcpStream], first: usize, channel: &str) -> Vec<Vec<u8>> {
    for (k, stream) in streams.iter_mut().enumerate() {
        let n = nick(first + k);
        let hello = format!("NICK {n}\r\nUSER {n} 0 * :parley bench\r\n");
        stream.write_all(hello.as_bytes()).unwrap_or_else(|e| fail(first + k, &e.to_string()));
    }
    let mut partials = vec![Vec::new(); streams.len()];
    for (k, stream) in streams.iter_mut().enumerate() {
        await_reply(first + k, stream, &mut partials[k], "001");
        let join = format!("JOIN {channel}\r\n");
        stream.write_all(join.as_bytes()).unwrap_or_else(|e| fail(first + k, &e.to_string()));
    }
    for (k, stream) in streams.iter_mut().enumerate() {
        await_reply(first + k, stream, &mut partials[k], "366");
        stream.set_read_timeout(None).ok();
        // Whole lines read past the join (others' JOINs) carry no bench line.
        if let Some(last) = partials[k].iter().rposition(|&b| b == b'\n') {
            partials[k].drain(..=last);
        }
    }
    partials
}
