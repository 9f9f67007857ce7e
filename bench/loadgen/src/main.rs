//! Parley's load generator: standard library only, so `cargo build --release
//! --offline` works anywhere Rust does. One scenario per run; prints one JSON
//! object on stdout. The ping-pong scenarios and `ws-chat` drive every
//! connection from one epoll thread; `chat` uses a reader and a writer thread
//! per client. On loopback with a 2-core machine (server pinned to one core,
//! us to the other) this is cheap enough not to be the bottleneck, and the
//! runner flags a run when our own CPU use says otherwise. WebSocket clients
//! (`ws-echo`, `ws-chat`) speak RFC 6455 through `ws.rs`; IRC clients
//! (`ws-chat --irc-clients`) register, join and chat through `irc.rs`.

mod irc;
mod ws;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

/// Just enough epoll for one-thread event loops, declared against the libc
/// that std already links (no crates needed).
mod epoll {
    use std::os::unix::io::RawFd;

    pub const IN: u32 = 0x001;
    const CTL_ADD: i32 = 1;
    const CTL_DEL: i32 = 2;

    #[repr(C, packed)]
    #[derive(Clone, Copy)]
    pub struct Event {
        pub events: u32,
        pub data: u64,
    }

    extern "C" {
        fn epoll_create1(flags: i32) -> i32;
        fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: *mut Event) -> i32;
        fn epoll_wait(epfd: i32, events: *mut Event, maxevents: i32, timeout: i32) -> i32;
    }

    pub struct Epoll(i32);

    impl Epoll {
        pub fn new() -> Epoll {
            let fd = unsafe { epoll_create1(0) };
            assert!(fd >= 0, "epoll_create1 failed");
            Epoll(fd)
        }
        pub fn add(&self, fd: RawFd, token: u64) {
            let mut event = Event { events: IN, data: token };
            let rc = unsafe { epoll_ctl(self.0, CTL_ADD, fd, &mut event) };
            assert!(rc == 0, "epoll_ctl failed");
        }
        /// Stops watching `fd` (a closed connection stays readable, at EOF).
        pub fn remove(&self, fd: RawFd) {
            let mut event = Event { events: 0, data: 0 };
            unsafe { epoll_ctl(self.0, CTL_DEL, fd, &mut event) };
        }
        /// Tokens of ready descriptors, waiting at most `timeout_ms`.
        pub fn wait(&self, events: &mut [Event], timeout_ms: i32) -> usize {
            let n = unsafe { epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
            if n < 0 { 0 } else { n as usize }
        }
    }

    extern "C" {
        fn timerfd_create(clockid: i32, flags: i32) -> i32;
        fn timerfd_settime(fd: i32, flags: i32, new: *const [i64; 4], old: *mut [i64; 4]) -> i32;
        fn read(fd: i32, buf: *mut u8, count: usize) -> isize;
    }

    /// A one-shot monotonic timer whose expiry makes its descriptor readable:
    /// wake-ups with microsecond precision (epoll_wait's timeout is in ms).
    pub struct Timer(i32);

    impl Timer {
        pub fn new() -> Timer {
            const CLOCK_MONOTONIC: i32 = 1;
            const NONBLOCK: i32 = 0o4000;
            let fd = unsafe { timerfd_create(CLOCK_MONOTONIC, NONBLOCK) };
            assert!(fd >= 0, "timerfd_create failed");
            Timer(fd)
        }
        pub fn fd(&self) -> RawFd {
            self.0
        }
        /// Fires once after `delay` (at least 1 ns; zero would disarm it).
        pub fn arm(&self, delay: std::time::Duration) {
            let ns = (delay.as_nanos() as i64).max(1);
            let spec = [0, 0, ns / 1_000_000_000, ns % 1_000_000_000]; // interval, value
            unsafe { timerfd_settime(self.0, 0, &spec, std::ptr::null_mut()) };
        }
        /// Acknowledges an expiry so the descriptor stops being readable.
        pub fn clear(&self) {
            let mut count = [0u8; 8];
            unsafe { read(self.0, count.as_mut_ptr(), 8) };
        }
    }

    pub fn token(event: &Event) -> u64 {
        let data = event.data; // packed: copy out before use
        data
    }

    pub fn empty(n: usize) -> Vec<Event> {
        vec![Event { events: 0, data: 0 }; n]
    }
}

struct Args {
    scenario: String,
    flags: HashMap<String, String>,
}

impl Args {
    fn parse() -> Args {
        let mut argv = std::env::args().skip(1);
        let scenario = argv.next().unwrap_or_else(|| usage("a scenario is needed"));
        let mut flags = HashMap::new();
        while let Some(flag) = argv.next() {
            let name = flag.strip_prefix("--").unwrap_or_else(|| usage(&format!("unexpected {flag}")));
            let value = argv.next().unwrap_or_else(|| usage(&format!("--{name} needs a value")));
            flags.insert(name.to_string(), value);
        }
        Args { scenario, flags }
    }
    fn str(&self, name: &str) -> String {
        self.flags.get(name).cloned().unwrap_or_else(|| usage(&format!("--{name} is required")))
    }
    fn num(&self, name: &str, default: f64) -> f64 {
        match self.flags.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| usage(&format!("--{name}: not a number: {v}"))),
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("loadgen: {problem}");
    eprintln!("usage: loadgen tcp-echo|tcp-bulk|udp-echo|chat|idle --addr HOST:PORT [--flag value]...");
    eprintln!("       loadgen ws-echo|ws-chat --ws-url ws://HOST:PORT/PATH [--addr HOST:PORT] [--flag value]...");
    eprintln!("       loadgen ws-chat --irc-clients N --addr HOST:PORT [--irc-channel #room] [--flag value]...");
    std::process::exit(2);
}

/// CPU time (user + system) of a process in microseconds, from /proc.
fn cpu_us(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000 / 100) // USER_HZ is 100 on Linux
}

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Server and load-generator CPU over the measured window.
struct CpuWindow {
    server_pid: Option<String>,
    server_start: u64,
    self_start: u64,
    started: Instant,
}

impl CpuWindow {
    /// Opens `window` at the first call at or after `from` (the end of the warm-up).
    fn open_at(window: &mut Option<CpuWindow>, from: Instant, now: Instant, server_pid: &Option<String>) {
        if window.is_none() && now >= from {
            *window = Some(CpuWindow::start(server_pid.clone()));
        }
    }
    fn start(server_pid: Option<String>) -> CpuWindow {
        let server_start = server_pid.as_deref().and_then(cpu_us).unwrap_or(0);
        CpuWindow { server_start, self_start: cpu_us("self").unwrap_or(0), server_pid, started: Instant::now() }
    }
    /// (server CPU µs, our CPU share of one core, seconds)
    fn finish(&self) -> (Option<u64>, f64, f64) {
        let seconds = self.started.elapsed().as_secs_f64();
        let server = self.server_pid.as_deref().and_then(cpu_us).map(|end| end.saturating_sub(self.server_start));
        let own = cpu_us("self").unwrap_or(0).saturating_sub(self.self_start) as f64 / 1e6 / seconds;
        (server, own, seconds)
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The p99 of the warm-up's lines (not part of the timed results), as JSON.
fn warmup_p99(mut latencies: Vec<u32>) -> String {
    latencies.sort_unstable();
    percentile(&latencies, 99.0).to_string()
}

fn json_number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".to_string(),
    }
}

/// Prints the common result fields plus `extra` as one JSON object.
fn report(scenario: &str, ops: u64, seconds: f64, mut latencies: Vec<u32>, cpu: (Option<u64>, f64, f64), pid: Option<&str>, extra: &[(&str, String)]) {
    latencies.sort_unstable();
    let (server_cpu, own_cpu, _) = cpu;
    let per_op = server_cpu.filter(|_| ops > 0).map(|us| us as f64 / ops as f64);
    let peak = pid.and_then(|p| status_kib(p, "VmHWM")).map(|k| k as f64);
    let mut fields = vec![
        ("scenario", format!("\"{scenario}\"")),
        ("ops", ops.to_string()),
        ("seconds", format!("{seconds:.3}")),
        ("ops_per_sec", format!("{:.1}", ops as f64 / seconds)),
        ("p50_us", percentile(&latencies, 50.0).to_string()),
        ("p99_us", percentile(&latencies, 99.0).to_string()),
        ("p90_us", percentile(&latencies, 90.0).to_string()),
        ("p999_us", percentile(&latencies, 99.9).to_string()),
        ("max_us", latencies.last().copied().unwrap_or(0).to_string()),
        ("server_cpu_us_per_op", json_number(per_op)),
        ("server_peak_rss_kib", json_number(peak)),
        ("loadgen_cpu", format!("{own_cpu:.3}")),
    ];
    fields.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    println!("{{{}}}", body.join(","));
}

fn connect(addr: &str) -> TcpStream {
    for _ in 0..50 {
        if let Ok(stream) = TcpStream::connect(addr) {
            stream.set_nodelay(true).ok();
            return stream;
        }
        thread::sleep(Duration::from_millis(20));
    }
    eprintln!("loadgen: cannot connect to {addr}");
    std::process::exit(1);
}

/// Ping-pong: each connection writes `size` bytes, reads them back, repeats.
/// One thread drives every connection through epoll.
fn tcp_echo(args: &Args) {
    let addr = args.str("addr");
    let conns = args.num("conns", 50.0) as usize;
    let size = args.num("size", 64.0) as usize;
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 2.0));
    let pid = args.flags.get("server-pid").cloned();
    let poller = epoll::Epoll::new();
    let mut streams: Vec<TcpStream> = (0..conns).map(|_| connect(&addr)).collect();
    for (i, stream) in streams.iter().enumerate() {
        stream.set_nonblocking(true).unwrap();
        poller.add(stream.as_raw_fd(), i as u64);
    }
    let message = vec![b'x'; size];
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = vec![0usize; conns];
    let mut sent_at = vec![Instant::now(); conns];
    let (mut ops, mut errors) = (0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    for (i, stream) in streams.iter_mut().enumerate() {
        if write_fully(stream, &message).is_err() {
            errors += 1;
        }
        sent_at[i] = Instant::now();
    }
    let mut events = epoll::empty(1024);
    let mut window: Option<CpuWindow> = None;
    let mut active = conns;
    while active > 0 {
        let now = Instant::now();
        CpuWindow::open_at(&mut window, measure_from, now, &pid);
        if now >= end + Duration::from_secs(2) {
            break; // replies still missing two seconds after the end
        }
        let ready = poller.wait(&mut events, 50);
        for event in &events[..ready] {
            let i = epoll::token(event) as usize;
            loop {
                match streams[i].read(&mut buffer) {
                    Ok(0) => {
                        errors += 1;
                        active -= 1;
                        break;
                    }
                    Ok(n) => {
                        received[i] += n;
                        while received[i] >= size {
                            received[i] -= size;
                            let done = Instant::now();
                            if sent_at[i] >= measure_from && sent_at[i] < end {
                                ops += 1;
                                latencies.push(done.duration_since(sent_at[i]).as_micros() as u32);
                            }
                            if done < end {
                                if write_fully(&mut streams[i], &message).is_err() {
                                    errors += 1;
                                }
                                sent_at[i] = Instant::now();
                            } else {
                                active -= 1;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        errors += 1;
                        active -= 1;
                        break;
                    }
                }
            }
        }
    }
    let cpu = window.map(|w| w.finish()).unwrap_or((None, 0.0, duration.as_secs_f64()));
    let cpu = (cpu.0, cpu.1, duration.as_secs_f64().min(cpu.2));
    report("tcp-echo", ops, cpu.2, latencies, cpu, pid.as_deref(), &[("errors", errors.to_string()), ("size", size.to_string()), ("conns", conns.to_string())]);
}

/// Writes all of `bytes` to a non-blocking stream, spinning on WouldBlock
/// (messages are small; the socket buffer nearly always has room).
fn write_fully(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let mut offset = 0;
    while offset < bytes.len() {
        match stream.write(&bytes[offset..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => offset += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Bulk: one connection, a writer thread and a reader; counts bytes echoed.
fn tcp_bulk(args: &Args) {
    let addr = args.str("addr");
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 2.0));
    let pid = args.flags.get("server-pid").cloned();
    let stream = connect(&addr);
    let mut writer = stream.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = stop.clone();
    let write_thread = thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        while !stop_writer.load(Ordering::Relaxed) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
        writer.shutdown(Shutdown::Write).ok();
    });
    let mut reader = stream;
    let mut buffer = vec![0u8; 256 * 1024];
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let mut window: Option<CpuWindow> = None;
    let mut bytes = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Instant::now();
        if now >= measure_from {
            if window.is_none() {
                window = Some(CpuWindow::start(pid.clone()));
            }
            bytes += n as u64;
        }
        if now >= end {
            break;
        }
    }
    let cpu = window.map(|w| w.finish()).unwrap_or((None, 0.0, duration.as_secs_f64()));
    stop.store(true, Ordering::Relaxed);
    reader.shutdown(Shutdown::Both).ok();
    write_thread.join().ok();
    let ops = bytes / (64 * 1024); // one op = 64 KiB echoed, for CPU per op
    report("tcp-bulk", ops, cpu.2, vec![], cpu, pid.as_deref(), &[("mib_per_sec", format!("{:.1}", bytes as f64 / 1048576.0 / cpu.2))]);
}

/// UDP ping-pong: each socket sends `size` bytes and waits for the echo;
/// one thread drives every socket through epoll. A request unanswered for
/// `timeout-ms` counts as lost and the socket sends the next one.
fn udp_echo(args: &Args) {
    let addr = args.str("addr");
    let sockets = args.num("sockets", 50.0) as usize;
    let size = args.num("size", 64.0).max(8.0) as usize;
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 2.0));
    let timeout = Duration::from_millis(args.num("timeout-ms", 200.0) as u64);
    let pid = args.flags.get("server-pid").cloned();
    let poller = epoll::Epoll::new();
    let mut socks = vec![];
    for i in 0..sockets {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(&addr).unwrap();
        socket.set_nonblocking(true).unwrap();
        poller.add(socket.as_raw_fd(), i as u64);
        socks.push(socket);
    }
    let mut message = vec![b'u'; size];
    let mut buffer = vec![0u8; 65536];
    let mut seq = vec![0u64; sockets];
    let mut sent_at = vec![Instant::now(); sockets];
    let (mut ops, mut lost) = (0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let send = |i: usize, seq: &mut Vec<u64>, sent_at: &mut Vec<Instant>, message: &mut Vec<u8>| {
        seq[i] += 1;
        message[..8].copy_from_slice(&seq[i].to_be_bytes());
        socks[i].send(message).ok();
        sent_at[i] = Instant::now();
    };
    for i in 0..sockets {
        send(i, &mut seq, &mut sent_at, &mut message);
    }
    let mut events = epoll::empty(1024);
    let mut window: Option<CpuWindow> = None;
    loop {
        let now = Instant::now();
        CpuWindow::open_at(&mut window, measure_from, now, &pid);
        if now >= end {
            break;
        }
        let ready = poller.wait(&mut events, 10);
        for event in &events[..ready] {
            let i = epoll::token(event) as usize;
            while let Ok(n) = socks[i].recv(&mut buffer) {
                if n != size || buffer[..8] != seq[i].to_be_bytes() {
                    continue; // a stale echo of a request already counted lost
                }
                let done = Instant::now();
                if sent_at[i] >= measure_from {
                    ops += 1;
                    latencies.push(done.duration_since(sent_at[i]).as_micros() as u32);
                }
                if done < end {
                    send(i, &mut seq, &mut sent_at, &mut message);
                }
            }
        }
        let now = Instant::now();
        for i in 0..sockets {
            if now.duration_since(sent_at[i]) > timeout && now < end {
                if sent_at[i] >= measure_from {
                    lost += 1;
                }
                send(i, &mut seq, &mut sent_at, &mut message);
            }
        }
    }
    let cpu = window.map(|w| w.finish()).unwrap_or((None, 0.0, duration.as_secs_f64()));
    report("udp-echo", ops, cpu.2, latencies, cpu, pid.as_deref(), &[("lost", lost.to_string())]);
}

/// Redis's `total_commands_processed` at `urls` (`redis://HOST:PORT`, or
/// several comma-separated: a Redis Cluster's masters), one count per URL;
/// None if one cannot be asked.
fn redis_commands(urls: &str) -> Option<Vec<u64>> {
    urls.split(',').map(|url| redis_commands_at(url.trim())).collect()
}

/// Redis's `total_commands_processed` (`INFO stats` over a raw RESP request)
/// at `url` (`redis://HOST:PORT`); None if Redis cannot be asked.
fn redis_commands_at(url: &str) -> Option<u64> {
    let authority = url.strip_prefix("redis://")?.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    let mut stream = TcpStream::connect(authority).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
    stream.write_all(b"INFO stats\r\n").ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        let Some(end) = text.find("\r\n") else { continue };
        let length: usize = text.strip_prefix('$')?[..end - 1].parse().ok()?;
        if reply.len() < end + 2 + length + 2 {
            continue;
        }
        return text.lines().find_map(|line| line.strip_prefix("total_commands_processed:")?.trim().parse().ok());
    }
}

/// Microseconds since a process-wide epoch, so timestamps compare across threads.
fn now_us(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// Chat fan-out: `clients` connections in one room (or spread over `rooms`
/// rooms, client `i` in room `r{i % rooms}`), each sending `rate`
/// lines/s carrying `@T<send µs>@S<sender>@N<seq>`; every client reads all
/// lines. With `slow 1`, one more client connects and never reads, and the
/// server's RSS is sampled every `sample-ms`. With `redis URL` (a cluster's
/// Redis), reports the commands Redis ran from just before the first line
/// to the end of the drain (`redis_commands`): the lines' cost, without the
/// clients' joins and leaves; with several URLs (a Redis Cluster's masters),
/// also each one's share (`redis_shard_commands`).
///
/// The first `warmup` seconds (0.5) of lines are delivered and count
/// toward `delivered_ratio`, but latencies, `ops` and the server's CPU
/// cover only the `duration` after them, as in the echo scenarios: a JIT
/// runtime's first fraction of a second is not its steady state.
fn chat(args: &Args) {
    let addr = args.str("addr");
    let clients = args.num("clients", 100.0) as usize;
    let rate = args.num("rate", 40.0);
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 3.0));
    let drain = Duration::from_secs_f64(args.num("drain", 3.0));
    let slow = args.num("slow", 0.0) as usize;
    let rooms = (args.num("rooms", 1.0) as usize).max(1);
    let sample_every = Duration::from_millis(args.num("sample-ms", 1000.0) as u64);
    let pid = args.flags.get("server-pid").cloned();
    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let warmup_latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let stop_readers = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut streams = vec![];
    for id in 0..clients {
        let mut stream = connect(&addr);
        if rooms > 1 {
            stream.write_all(format!("/join r{}\n", id % rooms).as_bytes()).ok();
        }
        streams.push(stream);
    }
    let sent_by_room: Arc<Vec<AtomicU64>> = Arc::new((0..rooms).map(|_| AtomicU64::new(0)).collect());
    let idle_slow: Vec<TcpStream> = (0..slow).map(|_| connect(&addr)).collect();
    // Everyone is connected (and joined) before anyone speaks.
    thread::sleep(Duration::from_millis(500));
    let redis = args.flags.get("redis").cloned();
    let redis_before = redis.as_deref().and_then(redis_commands);
    let start = Instant::now() + Duration::from_millis(100);
    // Lines of the warm-up are delivered and counted, not timed.
    let measure_from = start + warmup;
    let measure_from_us = measure_from.duration_since(epoch).as_micros() as u64;
    let end = measure_from + duration;
    let mut readers = vec![];
    let mut senders = vec![];
    for (id, stream) in streams.into_iter().enumerate() {
        let reader_stream = stream.try_clone().unwrap();
        reader_stream.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let (delivered, latencies, stop) = (delivered.clone(), latencies.clone(), stop_readers.clone());
        let warmup_latencies = warmup_latencies.clone();
        readers.push(thread::spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, reader_stream);
            let mut line = Vec::with_capacity(256);
            let mut lat = Vec::with_capacity(1 << 16);
            let mut warm = Vec::with_capacity(1 << 12);
            let me = format!("@S{id}@");
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        continue;
                    }
                    Err(_) => break,
                }
                let text = String::from_utf8_lossy(&line);
                if let Some(at) = text.find("@T") {
                    if text.contains(&me) {
                        continue; // an echo of our own line (servers that send one)
                    }
                    let rest = &text[at + 2..];
                    if let Some(sent_us) = rest.split('@').next().and_then(|v| v.parse::<u64>().ok()) {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        let took = now_us(epoch).saturating_sub(sent_us) as u32;
                        if sent_us >= measure_from_us {
                            lat.push(took);
                        } else {
                            warm.push(took);
                        }
                    }
                }
            }
            latencies.lock().unwrap().extend(lat);
            warmup_latencies.lock().unwrap().extend(warm);
        }));
        let (barrier, sent, sent_by_room) = (barrier.clone(), sent.clone(), sent_by_room.clone());
        let mut writer = stream;
        senders.push(thread::spawn(move || {
            barrier.wait();
            let period = Duration::from_secs_f64(1.0 / rate);
            // Spread the clients over one period so they do not all speak at once.
            let mut next = start + period.mul_f64(id as f64 / clients as f64);
            let mut seq = 0u64;
            while next < end {
                thread::sleep(next.saturating_duration_since(Instant::now()));
                seq += 1;
                let line = format!("@T{}@S{id}@N{seq}@ padding-to-look-like-a-chat-line\n", now_us(epoch));
                if writer.write_all(line.as_bytes()).is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                sent_by_room[id % rooms].fetch_add(1, Ordering::Relaxed);
                next += period;
            }
        }));
    }
    barrier.wait();
    thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    let window = CpuWindow::start(pid.clone());
    let mut rss_samples = vec![];
    while Instant::now() < end {
        if let Some(kib) = pid.as_deref().and_then(|p| status_kib(p, "VmRSS")) {
            rss_samples.push(kib);
        }
        thread::sleep(sample_every.min(end.saturating_duration_since(Instant::now())));
    }
    let cpu = window.finish();
    for s in senders {
        s.join().ok();
    }
    let total_sent = sent.load(Ordering::Relaxed);
    // Each line reaches the other members of its room.
    let expected: u64 = (0..rooms)
        .map(|room| {
            let members = (0..clients).filter(|id| id % rooms == room).count() as u64;
            sent_by_room[room].load(Ordering::Relaxed) * members.saturating_sub(1)
        })
        .sum();
    // Let what is in flight arrive (bounded), then stop the readers.
    let drain_end = Instant::now() + drain;
    while Instant::now() < drain_end && delivered.load(Ordering::Relaxed) < expected {
        thread::sleep(Duration::from_millis(50));
    }
    // Before anyone leaves; less the INFO that took redis_before.
    let redis_after = redis.as_deref().and_then(redis_commands);
    let redis_used = match (redis_before, redis_after) {
        (Some(before), Some(after)) => {
            let shares: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a.saturating_sub(b + 1)).collect();
            let mut used = vec![("redis_commands", shares.iter().sum::<u64>().to_string())];
            if shares.len() > 1 {
                let listed: Vec<String> = shares.iter().map(|n| n.to_string()).collect();
                used.push(("redis_shard_commands", format!("[{}]", listed.join(","))));
            }
            used
        }
        _ => vec![],
    };
    stop_readers.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().ok();
    }
    drop(idle_slow);
    let got = delivered.load(Ordering::Relaxed);
    let lat = std::mem::take(&mut *latencies.lock().unwrap());
    let samples: Vec<String> = rss_samples.iter().map(|k| k.to_string()).collect();
    let mut extra = vec![
        ("sent", total_sent.to_string()),
        ("expected", expected.to_string()),
        ("delivered_ratio", format!("{:.5}", if expected == 0 { 0.0 } else { got as f64 / expected as f64 })),
        ("rss_samples_kib", format!("[{}]", samples.join(","))),
        ("warmup_p99_us", warmup_p99(std::mem::take(&mut *warmup_latencies.lock().unwrap()))),
    ];
    extra.extend(redis_used);
    // The timed deliveries: one latency each.
    report("chat", lat.len() as u64, cpu.2, lat, cpu, pid.as_deref(), &extra);
}

/// What a Deno server's GC probe (bench/peers/deno/gc_probe.ts) wrote after
/// a full collection: (heap used + external bytes, RSS KiB just after, V8
/// heap committed bytes).
/// Signals the server (SIGUSR2) and waits up to 10 s for a new report.
fn collect_garbage(pid: &str, dir: &str) -> Option<(u64, u64, u64)> {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGUSR2: i32 = 12;
    let file = format!("{dir}/gc-{pid}.txt");
    let read = || -> Option<Vec<u64>> {
        let text = std::fs::read_to_string(&file).ok()?;
        text.split_whitespace().map(|v| v.parse().ok()).collect()
    };
    let before = read().map(|r| r[0]).unwrap_or(0);
    if unsafe { kill(pid.parse().ok()?, SIGUSR2) } != 0 {
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(r) = read().filter(|r| r.len() == 5 && r[0] > before) {
            // Let freed pages go back (V8 sweeps and unmaps some of them concurrently).
            thread::sleep(Duration::from_millis(300));
            return Some((r[1] + r[2], status_kib(pid, "VmRSS").unwrap_or(0), r[4]));
        }
        thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Idle capacity: open `clients` connections, read whatever greeting the
/// server sends, hold them, and report the server's RSS growth. With
/// `gc-dir DIR` (a Deno server run with the GC probe), also the same after
/// a full garbage collection before and after connecting: the RSS growth
/// and the growth of the JavaScript heap's live bytes (heap used plus
/// external), per connection.
fn idle(args: &Args) {
    let addr = args.str("addr");
    let clients = args.num("clients", 1000.0) as usize;
    let settle = Duration::from_secs_f64(args.num("settle", 1.0));
    let pid = args.str("server-pid");
    let gc_dir = args.flags.get("gc-dir").cloned();
    // With the probe, both figures start from the collected baseline (a
    // collection at the start would otherwise be counted against the connections).
    let gc_before = gc_dir.as_deref().and_then(|dir| collect_garbage(&pid, dir));
    let baseline = gc_before.map(|(_, rss, _)| rss).or_else(|| status_kib(&pid, "VmRSS")).unwrap_or(0);
    let mut held = Vec::with_capacity(clients);
    let mut failed = 0u64;
    for _ in 0..clients {
        match TcpStream::connect(&addr) {
            Ok(s) => {
                s.set_nonblocking(true).ok();
                held.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    thread::sleep(settle);
    // Drain greetings so the server's queues are empty, then measure.
    let mut scratch = [0u8; 4096];
    for s in held.iter_mut() {
        while let Ok(n) = s.read(&mut scratch) {
            if n == 0 {
                failed += 1;
                break;
            }
        }
    }
    thread::sleep(settle);
    let rss = status_kib(&pid, "VmRSS").unwrap_or(0);
    let connected = held.len() as u64 - failed.min(held.len() as u64);
    let per_conn = if connected == 0 { 0.0 } else { (rss.saturating_sub(baseline)) as f64 * 1024.0 / connected as f64 };
    let mut gc = String::new();
    if let (Some((live_before, rss_before, heap_before)), Some((live_after, rss_after, heap_after))) =
        (gc_before, gc_dir.as_deref().and_then(|dir| collect_garbage(&pid, dir)))
    {
        let per = |bytes: f64| if connected == 0 { 0.0 } else { bytes / connected as f64 };
        let rss_growth = (rss_after as f64 - rss_before as f64) * 1024.0;
        gc = format!(
            ",\"gc_rss_kib\":{rss_after},\"bytes_per_conn_after_gc\":{:.0},\"live_bytes_per_conn\":{:.0},\"heap_bytes_per_conn\":{:.0}",
            per(rss_growth),
            per(live_after as f64 - live_before as f64),
            per(heap_after as f64 - heap_before as f64)
        );
    }
    println!(
        "{{\"scenario\":\"idle\",\"clients\":{clients},\"connected\":{connected},\"failed\":{failed},\"baseline_rss_kib\":{baseline},\"rss_kib\":{rss},\"bytes_per_conn\":{per_conn:.0}{gc}}}"
    );
    drop(held);
}

/// Connects to `url` and completes the WebSocket handshake; returns the
/// stream (non-blocking, registered nowhere yet) and a frame reader holding
/// whatever the server sent right after its 101 response.
fn ws_connect(url: &str, rng: &mut ws::Rng) -> (TcpStream, ws::Reader) {
    let (host, path) = ws::parse_url(url).unwrap_or_else(|e| usage(&e));
    let mut stream = connect(&host);
    let leftover = ws::handshake(&mut stream, &host, &path, rng).unwrap_or_else(|e| {
        eprintln!("loadgen: {url}: {e}");
        std::process::exit(1);
    });
    stream.set_nonblocking(true).unwrap();
    let mut reader = ws::Reader::default();
    reader.feed(&leftover);
    (stream, reader)
}

/// WebSocket ping-pong: each connection sends a `size`-byte text message
/// (masked, as a client must), waits for the whole echoed message, repeats.
/// One thread drives every connection through epoll, as `tcp-echo` does.
fn ws_echo(args: &Args) {
    let url = args.str("ws-url");
    let conns = args.num("conns", 50.0) as usize;
    let size = args.num("size", 64.0) as usize;
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 2.0));
    let pid = args.flags.get("server-pid").cloned();
    let mut rng = ws::Rng::new(1);
    let poller = epoll::Epoll::new();
    let (mut streams, mut readers): (Vec<TcpStream>, Vec<ws::Reader>) = (0..conns).map(|_| ws_connect(&url, &mut rng)).unzip();
    for (i, stream) in streams.iter().enumerate() {
        poller.add(stream.as_raw_fd(), i as u64);
    }
    let payload = vec![b'x'; size];
    let mut frame = Vec::with_capacity(size + 14);
    let mut send = |stream: &mut TcpStream, opcode: u8, body: &[u8], rng: &mut ws::Rng| {
        frame.clear();
        ws::encode(&mut frame, opcode, body, rng.mask());
        write_fully(stream, &frame)
    };
    let mut buffer = vec![0u8; 256 * 1024];
    let mut sent_at = vec![Instant::now(); conns];
    let mut open = vec![true; conns];
    let (mut ops, mut errors, mut unexpected) = (0u64, 0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    for (i, stream) in streams.iter_mut().enumerate() {
        if send(stream, ws::TEXT, &payload, &mut rng).is_err() {
            errors += 1;
        }
        sent_at[i] = Instant::now();
    }
    let mut events = epoll::empty(1024);
    let mut window: Option<CpuWindow> = None;
    let mut active = conns;
    let mut pongs: Vec<Vec<u8>> = vec![];
    while active > 0 {
        let now = Instant::now();
        CpuWindow::open_at(&mut window, measure_from, now, &pid);
        if now >= end + Duration::from_secs(2) {
            break; // replies still missing two seconds after the end
        }
        let ready = poller.wait(&mut events, 50);
        for event in &events[..ready] {
            let i = epoll::token(event) as usize;
            let mut ended = false;
            // One read per readiness: epoll is level-triggered, so more data
            // wakes us again, and ping-pong never needs a read that would block.
            'read: {
                if !open[i] {
                    break 'read;
                }
                let n = match streams[i].read(&mut buffer) {
                    Ok(0) => {
                        ended = true;
                        errors += 1;
                        break 'read;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break 'read,
                    Err(_) => {
                        ended = true;
                        errors += 1;
                        break 'read;
                    }
                };
                readers[i].feed(&buffer[..n]);
                let (mut replies, mut closed) = (0u32, false);
                let parsed = readers[i].drain(|event| match event {
                    ws::Event::Message { binary: false, data } if data.len() == size => replies += 1,
                    ws::Event::Message { .. } => unexpected += 1,
                    ws::Event::Ping(data) => pongs.push(data.to_vec()),
                    ws::Event::Close => closed = true,
                });
                for pong in pongs.drain(..) {
                    send(&mut streams[i], ws::PONG, &pong, &mut rng).ok();
                }
                if parsed.is_err() || closed {
                    errors += 1;
                    ended = true;
                }
                for _ in 0..replies {
                    let done = Instant::now();
                    if sent_at[i] >= measure_from && sent_at[i] < end {
                        ops += 1;
                        latencies.push(done.duration_since(sent_at[i]).as_micros() as u32);
                    }
                    if done < end && !ended {
                        if send(&mut streams[i], ws::TEXT, &payload, &mut rng).is_err() {
                            errors += 1;
                        }
                        sent_at[i] = Instant::now();
                    } else {
                        ended = true;
                    }
                }
            }
            if ended && open[i] {
                open[i] = false;
                active -= 1;
                poller.remove(streams[i].as_raw_fd());
            }
        }
    }
    for stream in streams.iter_mut() {
        send(stream, ws::CLOSE, &1000u16.to_be_bytes(), &mut rng).ok();
    }
    let cpu = window.map(|w| w.finish()).unwrap_or((None, 0.0, duration.as_secs_f64()));
    let cpu = (cpu.0, cpu.1, duration.as_secs_f64().min(cpu.2));
    report(
        "ws-echo",
        ops,
        cpu.2,
        latencies,
        cpu,
        pid.as_deref(),
        &[("errors", errors.to_string()), ("unexpected", unexpected.to_string()), ("size", size.to_string()), ("conns", conns.to_string())],
    );
}

/// A chat line's `@T<send µs>@S<sender>@`, if it carries them.
fn chat_stamp(line: &[u8]) -> Option<(u64, usize)> {
    fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let value = std::str::from_utf8(&bytes[..digits]).ok()?.parse().ok()?;
        Some((value, &bytes[digits..]))
    }
    let at = line.windows(2).position(|w| w == b"@T")?;
    let (sent_us, rest) = number(&line[at + 2..])?;
    let (sender, rest) = number(rest.strip_prefix(b"@S")?)?;
    (rest.first() == Some(&b'@')).then_some((sent_us, sender as usize))
}

/// One client of `ws-chat`: TCP (newline-terminated lines), IRC (TCP lines
/// sent as `PRIVMSG`, pings answered) or WebSocket (a line per text message
/// sent; a server message may hold several lines).
struct ChatConn {
    stream: TcpStream,
    ws: Option<ws::Reader>,
    /// IRC: the channel every line is sent to.
    irc: Option<String>,
    /// TCP: the start of a line whose end has not arrived.
    partial: Vec<u8>,
    /// Bytes the socket has not taken yet.
    out: Vec<u8>,
    open: bool,
}

impl ChatConn {
    /// Marks the connection failed and stops watching it.
    fn fail(&mut self, poller: &epoll::Epoll, errors: &mut u64) {
        if self.open {
            self.open = false;
            *errors += 1;
            poller.remove(self.stream.as_raw_fd());
        }
    }

    /// Writes what is queued; false when the connection failed.
    fn flush(&mut self) -> bool {
        let mut done = 0;
        while done < self.out.len() {
            match self.stream.write(&self.out[done..]) {
                Ok(0) => return false,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        self.out.drain(..done);
        true
    }
}

/// Chat fan-out over WebSocket, optionally mixed with TCP: `tcp-clients`
/// connections to `addr` and `ws-clients` to `ws-url`, all in one room (or
/// `irc-clients` IRC clients of `addr` in channel `irc-channel`), each
/// sending `rate` lines/s carrying `@T<send µs>@S<sender>@N<seq>` (as `chat`
/// does); every client reads every line. One thread and epoll drive all of
/// them; a timerfd paces the sends, spread evenly over each period. A
/// `warmup` (0.5 s) as in `chat`: delivered and counted, not timed.
fn ws_chat(args: &Args) {
    let tcp_clients = args.num("tcp-clients", 0.0) as usize;
    let irc_clients = args.num("irc-clients", 0.0) as usize;
    let ws_clients = args.num("ws-clients", if irc_clients > 0 { 0.0 } else { 100.0 }) as usize;
    let clients = tcp_clients + irc_clients + ws_clients;
    let channel = args.flags.get("irc-channel").cloned().unwrap_or_else(|| "#room".to_string());
    if clients < 2 {
        usage("ws-chat needs at least two clients");
    }
    let rate = args.num("rate", 40.0);
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = Duration::from_secs_f64(args.num("duration", 3.0));
    let drain = Duration::from_secs_f64(args.num("drain", 3.0));
    let sample_every = Duration::from_millis(args.num("sample-ms", 1000.0) as u64);
    let pid = args.flags.get("server-pid").cloned();
    let epoch = Instant::now();
    let mut rng = ws::Rng::new(2);
    let poller = epoll::Epoll::new();
    let mut conns: Vec<ChatConn> = Vec::with_capacity(clients);
    // Clients 0..tcp are TCP, then IRC, then WebSocket.
    let mut irc_streams: Vec<TcpStream> = (0..irc_clients).map(|_| connect(&args.str("addr"))).collect();
    let mut irc_partials = irc::register_and_join(&mut irc_streams, tcp_clients, &channel).into_iter();
    let mut irc_streams = irc_streams.into_iter();
    for i in 0..clients {
        let (stream, ws, irc, partial) = if i < tcp_clients {
            let stream = connect(&args.str("addr"));
            stream.set_nonblocking(true).unwrap();
            (stream, None, None, vec![])
        } else if i < tcp_clients + irc_clients {
            let stream = irc_streams.next().unwrap();
            stream.set_nonblocking(true).unwrap();
            (stream, None, Some(channel.clone()), irc_partials.next().unwrap())
        } else {
            let (stream, reader) = ws_connect(&args.str("ws-url"), &mut rng);
            (stream, Some(reader), None, vec![])
        };
        poller.add(stream.as_raw_fd(), i as u64);
        conns.push(ChatConn { stream, ws, irc, partial, out: vec![], open: true });
    }
    const TIMER: u64 = u64::MAX;
    let timer = epoll::Timer::new();
    poller.add(timer.fd(), TIMER);
    // Everyone is connected (and joined) before anyone speaks.
    thread::sleep(Duration::from_millis(500));
    let start = Instant::now() + Duration::from_millis(100);
    // Lines of the warm-up are delivered and counted, not timed.
    let measure_from = start + warmup;
    let measure_from_us = measure_from.duration_since(epoch).as_micros() as u64;
    let end = measure_from + duration;
    let period = Duration::from_secs_f64(1.0 / rate);
    // Send slot s belongs to client s % clients: each client once per period.
    let slot_at = |s: u64| start + period.mul_f64(s as f64 / clients as f64);
    let mut slot = 0u64;
    let mut seq = vec![0u64; clients];
    let (mut sent, mut delivered, mut errors, mut pings) = (0u64, 0u64, 0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut warmup_latencies: Vec<u32> = Vec::with_capacity(1 << 16);
    let mut window: Option<CpuWindow> = None;
    let mut cpu: Option<(Option<u64>, f64, f64)> = None;
    let mut rss_samples = vec![];
    let mut next_sample = start;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut events = epoll::empty(1024);
    let mut armed: Option<Instant> = None;
    let mut pending_out = false;
    let mut pongs: Vec<Vec<u8>> = vec![];
    let mut line = String::with_capacity(128);
    loop {
        let now = Instant::now();
        CpuWindow::open_at(&mut window, measure_from, now, &pid);
        if cpu.is_none() && now >= end {
            cpu = window.as_ref().map(|w| w.finish());
        }
        if cpu.is_none() && now >= next_sample {
            if let Some(kib) = pid.as_deref().and_then(|p| status_kib(p, "VmRSS")) {
                rss_samples.push(kib);
            }
            next_sample += sample_every;
        }
        // Send every line that is due.
        while slot_at(slot) <= now && slot_at(slot) < end {
            let c = (slot % clients as u64) as usize;
            slot += 1;
            let conn = &mut conns[c];
            if !conn.open {
                continue;
            }
            seq[c] += 1;
            line.clear();
            use std::fmt::Write as _;
            write!(line, "@T{}@S{c}@N{}@ padding-to-look-like-a-chat-line", now_us(epoch), seq[c]).ok();
            if conn.ws.is_some() {
                ws::encode(&mut conn.out, ws::TEXT, line.as_bytes(), rng.mask());
            } else if let Some(channel) = &conn.irc {
                irc::privmsg(&mut conn.out, channel, line.as_bytes());
            } else {
                conn.out.extend_from_slice(line.as_bytes());
                conn.out.push(b'\n');
            }
            if conn.flush() {
                sent += 1;
                pending_out |= !conn.out.is_empty();
            } else {
                conn.fail(&poller, &mut errors);
            }
        }
        let sending = slot_at(slot) < end;
        let drain_end = end + drain;
        if !sending && now >= end && (delivered >= sent * (clients as u64 - 1) || now >= drain_end) {
            break;
        }
        // Sleep until the next thing due, or until a socket is readable.
        let mut wake = drain_end;
        if sending {
            wake = wake.min(slot_at(slot));
        }
        if cpu.is_none() {
            wake = wake.min(end).min(next_sample);
        }
        if armed != Some(wake) {
            timer.arm(wake.saturating_duration_since(Instant::now()));
            armed = Some(wake);
        }
        let ready = poller.wait(&mut events, if pending_out { 1 } else { 100 });
        for event in &events[..ready] {
            let token = epoll::token(event);
            if token == TIMER {
                timer.clear();
                armed = None;
                continue;
            }
            let i = token as usize;
            let conn = &mut conns[i];
            // One read per readiness (level-triggered epoll wakes us again).
            'read: {
                if !conn.open {
                    break 'read;
                }
                let n = match conn.stream.read(&mut buffer) {
                    Ok(0) => 0,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break 'read,
                    Err(_) => 0,
                };
                if n == 0 {
                    conn.fail(&poller, &mut errors);
                    break 'read;
                }
                let arrived = now_us(epoch);
                let mut count = |line: &[u8]| {
                    if let Some((sent_us, sender)) = chat_stamp(line) {
                        if sender != i {
                            delivered += 1;
                            let took = arrived.saturating_sub(sent_us) as u32;
                            if sent_us >= measure_from_us {
                                latencies.push(took);
                            } else {
                                warmup_latencies.push(took);
                            }
                        }
                    }
                };
                match conn.ws.as_mut() {
                    None => {
                        let bytes = &buffer[..n];
                        let irc = conn.irc.is_some();
                        let mut pong = vec![];
                        let mut line = |line: &[u8]| {
                            if !(irc && line.starts_with(b"PING") && irc::answer_ping(&mut pong, line)) {
                                count(line);
                            }
                        };
                        let mut from = 0;
                        for end in bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(k, _)| k) {
                            if conn.partial.is_empty() {
                                line(&bytes[from..end]);
                            } else {
                                conn.partial.extend_from_slice(&bytes[from..end]);
                                line(&conn.partial);
                                conn.partial.clear();
                            }
                            from = end + 1;
                        }
                        conn.partial.extend_from_slice(&bytes[from..]);
                        if !pong.is_empty() {
                            conn.out.extend_from_slice(&pong);
                            pending_out = true;
                            pings += 1;
                        }
                    }
                    Some(reader) => {
                        reader.feed(&buffer[..n]);
                        let mut closed = false;
                        let parsed = reader.drain(|event| match event {
                            ws::Event::Message { data, .. } => data.split(|&b| b == b'\n').for_each(&mut count),
                            ws::Event::Ping(data) => pongs.push(data.to_vec()),
                            ws::Event::Close => closed = true,
                        });
                        for pong in pongs.drain(..) {
                            ws::encode(&mut conn.out, ws::PONG, &pong, rng.mask());
                            pending_out = true;
                            pings += 1;
                        }
                        if parsed.is_err() || closed {
                            ws::encode(&mut conn.out, ws::CLOSE, &1000u16.to_be_bytes(), rng.mask());
                            conn.flush();
                            conn.fail(&poller, &mut errors);
                        }
                    }
                }
            }
        }
        if pending_out {
            pending_out = false;
            for conn in conns.iter_mut().filter(|c| c.open && !c.out.is_empty()) {
                if !conn.flush() {
                    conn.fail(&poller, &mut errors);
                }
                pending_out |= !conn.out.is_empty();
            }
        }
    }
    for conn in conns.iter_mut().filter(|c| c.open && c.ws.is_some()) {
        conn.out.clear();
        ws::encode(&mut conn.out, ws::CLOSE, &1000u16.to_be_bytes(), rng.mask());
        conn.flush();
    }
    // Server CPU from the first line to the last delivery, the drain
    // included: a server that falls behind does part of the sending
    // window's work after it. Rates stay per second of sending.
    let sending = cpu.map(|c| c.2).unwrap_or(duration.as_secs_f64());
    let cpu = window.map(|w| w.finish()).map(|(server, own, _)| (server, own, sending)).unwrap_or((None, 0.0, sending));
    let expected = sent * (clients as u64 - 1);
    let samples: Vec<String> = rss_samples.iter().map(|k| k.to_string()).collect();
    report(
        "ws-chat",
        latencies.len() as u64, // the timed deliveries: one latency each
        cpu.2,
        latencies,
        cpu,
        pid.as_deref(),
        &[
            ("sent", sent.to_string()),
            ("expected", expected.to_string()),
            ("delivered_ratio", format!("{:.5}", if expected == 0 { 0.0 } else { delivered as f64 / expected as f64 })),
            ("rss_samples_kib", format!("[{}]", samples.join(","))),
            ("warmup_p99_us", warmup_p99(warmup_latencies)),
            ("errors", errors.to_string()),
            ("pings", pings.to_string()),
            ("tcp_clients", tcp_clients.to_string()),
            ("irc_clients", irc_clients.to_string()),
            ("ws_clients", ws_clients.to_string()),
        ],
    );
}

fn main() {
    let args = Args::parse();
    match args.scenario.as_str() {
        "tcp-echo" => tcp_echo(&args),
        "tcp-bulk" => tcp_bulk(&args),
        "udp-echo" => udp_echo(&args),
        "chat" => chat(&args),
        "idle" => idle(&args),
        "ws-echo" => ws_echo(&args),
        "ws-chat" => ws_chat(&args),
        other => usage(&format!("unknown scenario {other}")),
    }
}
