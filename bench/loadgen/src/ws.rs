//! Just enough of a WebSocket client (RFC 6455) for the benchmarks, standard
//! library only: the HTTP/1.1 Upgrade handshake with a checked
//! `Sec-WebSocket-Accept` (SHA-1 and base64 below), masked client frames, and
//! a reader that reassembles server messages from frames with 7-, 16- or
//! 64-bit lengths, fragmented or not, and reports pings and closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;
const CONTINUATION: u8 = 0x0;

/// The GUID of RFC 6455 §1.3, appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest message we accept (a misbehaving server should not exhaust memory).
const MAX_MESSAGE: usize = 64 << 20;

/// SHA-1 (FIPS 180-4), for the handshake only.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` a server must answer to `key`.
pub fn accept_for(key: &str) -> String {
    base64(&sha1(format!("{key}{GUID}").as_bytes()))
}

/// xorshift64*: masking keys and handshake nonces. RFC 6455 wants masks an
/// attacker cannot predict; a benchmark on loopback only needs them to vary.
pub struct Rng(u64);

impl Rng {
    pub fn new(salt: u64) -> Rng {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Rng((t ^ (std::process::id() as u64) << 32 ^ salt.wrapping_mul(0x9E3779B97F4A7C15)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn mask(&mut self) -> [u8; 4] {
        (self.next() as u32).to_ne_bytes()
    }
}

/// `ws://HOST:PORT/PATH` → (`HOST:PORT`, `/PATH`).
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| format!("not a ws:// URL: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    Ok((authority, path.to_string()))
}

/// Performs the opening handshake on a connected (blocking) stream. Returns
/// the bytes the server sent after its response headers (frames already on
/// their way, e.g. a chat server's welcome), which belong to the frame reader.
pub fn handshake(stream: &mut TcpStream, host: &str, path: &str, rng: &mut Rng) -> Result<Vec<u8>, String> {
    let nonce: Vec<u8> = [rng.next(), rng.next()].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let key = base64(&nonce);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("handshake write: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if response.len() > 16 * 1024 {
            return Err("handshake: response headers over 16 KiB".into());
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err("handshake: the server closed the connection".into()),
            Ok(n) => response.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("handshake read: {e}")),
        }
    };
    stream.set_read_timeout(None).ok();
    let head = String::from_utf8_lossy(&response[..end]).to_string();
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("handshake: expected 101, got {status:?}"));
    }
    let accept = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("sec-websocket-accept").then(|| value.trim().to_string())
    });
    if accept.as_deref() != Some(accept_for(&key).as_str()) {
        return Err(format!("handshake: wrong Sec-WebSocket-Accept {accept:?}"));
    }
    Ok(response[end..].to_vec())
}

/// Appends one final, masked frame (a client's frames must be masked).
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, byte) in out[start..].iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// What the reader found.
pub enum Event<'a> {
    /// A whole text or binary message.
    Message { binary: bool, data: &'a [u8] },
    /// A ping; the caller answers with a pong carrying `data`.
    Ping(&'a [u8]),
    /// A close frame: the caller answers and stops.
    Close,
}

/// Reassembles server messages from the bytes fed to it.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// Payload of a fragmented message so far, and whether it is binary.
    partial: Vec<u8>,
    partial_binary: bool,
    in_message: bool,
}

impl Reader {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Calls `on` for every complete message, ping and close in what was
    /// fed; keeps an incomplete frame for the next call.
    pub fn drain(&mut self, mut on: impl FnMut(Event)) -> Result<(), String> {
        let mut pos = 0;
        let result = loop {
            let Some((fin, opcode, start, end)) = (match header(&mut self.buf[pos..]) {
                Ok(h) => h,
                Err(e) => break Err(e),
            }) else {
                break Ok(());
            };
            let (start, end) = (pos + start, pos + end);
            pos = end;
            let payload = &self.buf[start..end];
            match opcode {
                TEXT | BINARY if fin && !self.in_message => on(Event::Message { binary: opcode == BINARY, data: payload }),
                TEXT | BINARY if !self.in_message => {
                    self.in_message = true;
                    self.partial_binary = opcode == BINARY;
                    self.partial.clear();
                    self.partial.extend_from_slice(payload);
                }
                CONTINUATION if self.in_message => {
                    if self.partial.len() + payload.len() > MAX_MESSAGE {
                        break Err("message over 64 MiB".into());
                    }
                    self.partial.extend_from_slice(payload);
                    if fin {
                        self.in_message = false;
                        on(Event::Message { binary: self.partial_binary, data: &self.partial });
                    }
                }
                PING => on(Event::Ping(payload)),
                PONG => {}
                CLOSE => {
                    on(Event::Close);
                    break Ok(());
                }
                other => break Err(format!("unexpected opcode {other:#x}")),
            }
        };
        if pos == self.buf.len() {
            self.buf.clear();
        } else if pos > 0 {
            self.buf.drain(..pos);
        }
        result
    }
}

/// Parses the frame at the start of `buf`: (fin, opcode, payload start,
/// payload end), or None while incomplete. Unmasks a masked payload in place
/// (servers must not mask, but tolerating it costs nothing).
fn header(buf: &mut [u8]) -> Result<Option<(bool, u8, usize, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, opcode, masked) = (buf[0] & 0x80 != 0, buf[0] & 0x0F, buf[1] & 0x80 != 0);
    if buf[0] & 0x70 != 0 {
        return Err("reserved bits set (no extension was negotiated)".into());
    }
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()), 10),
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if len > MAX_MESSAGE as u64 {
        return Err(format!("frame of {len} bytes"));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        at += 4;
        Some([buf[at - 4], buf[at - 3], buf[at - 2], buf[at - 1]])
    } else {
        None
    };
    let end = at + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    if let Some(mask) = mask {
        for (i, byte) in buf[at..end].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
    }
    Ok(Some((fin, opcode, at, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_matches_rfc_6455_example() {
        assert_eq!(accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        let digest: String = sha1(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reader_handles_lengths_fragments_pings_and_split_input() {
        let big = vec![b'b'; 70_000];
        let mid = vec![b'm'; 300];
        let mut wire = server_frame(true, TEXT, b"hi\nthere");
        wire.extend(server_frame(true, BINARY, &mid));
        wire.extend(server_frame(false, TEXT, b"frag"));
        wire.extend(server_frame(true, PING, b"p"));
        wire.extend(server_frame(true, CONTINUATION, b"ment"));
        wire.extend(server_frame(true, TEXT, &big));
        wire.extend(server_frame(true, CLOSE, &[3, 232]));
        let mut reader = Reader::default();
        let mut seen = vec![];
        for byte in wire.chunks(7) {
            reader.feed(byte);
            reader
                .drain(|event| {
                    seen.push(match event {
                        Event::Message { binary, data } => format!("{}:{}:{}", binary, data.len(), data[0] as char),
                        Event::Ping(data) => format!("ping:{}", String::from_utf8_lossy(data)),
                        Event::Close => "close".into(),
                    })
                })
                .unwrap();
        }
        assert_eq!(seen, ["false:8:h", "true:300:m", "ping:p", "false:8:f", "false:70000:b", "close"]);
    }

    #[test]
    fn encode_masks_and_sizes() {
        let mut out = vec![];
        encode(&mut out, TEXT, &[b'x'; 200], [1, 2, 3, 4]);
        assert_eq!(&out[..4], &[0x81, 0xFE, 0, 200]);
        assert_eq!(&out[4..8], &[1, 2, 3, 4]);
        assert_eq!(out[8], b'x' ^ 1);
        assert_eq!(out.len(), 8 + 200);
        let mut client_side = out.clone();
        let parsed = header(&mut client_side).unwrap().unwrap();
        assert_eq!(parsed, (true, TEXT, 8, 208));
        assert!(client_side[8..].iter().all(|&b| b == b'x'));
    }
}
