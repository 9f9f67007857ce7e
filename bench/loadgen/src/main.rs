//! Parley's load generator: standard library only, so `cargo build --release
//! --offline` works anywhere Rust does. One scenario per run; prints one JSON
//! object on stdout. Blocking I/O with a thread per connection: on loopback
//! with a 2-core machine (server pinned to one core, us to the other) this is
//! cheap enough not to be the bottleneck, and the runner flags a run when our
//! own CPU use says otherwise.

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
        /// Tokens of ready descriptors, waiting at most `timeout_ms`.
        pub fn wait(&self, events: &mut [Event], timeout_ms: i32) -> usize {
            let n = unsafe { epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
            if n < 0 { 0 } else { n as usize }
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
        if window.is_none() && now >= measure_from {
            window = Some(CpuWindow::start(pid.clone()));
        }
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
        if window.is_none() && now >= measure_from {
            window = Some(CpuWindow::start(pid.clone()));
        }
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

/// Microseconds since a process-wide epoch, so timestamps compare across threads.
fn now_us(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// Chat fan-out: `clients` connections in one room, each sending `rate`
/// lines/s carrying `@T<send µs>@S<sender>@N<seq>`; every client reads all
/// lines. With `slow 1`, one more client connects and never reads, and the
/// server's RSS is sampled every `sample-ms`.
fn chat(args: &Args) {
    let addr = args.str("addr");
    let clients = args.num("clients", 100.0) as usize;
    let rate = args.num("rate", 40.0);
    let duration = Duration::from_secs_f64(args.num("duration", 3.0));
    let drain = Duration::from_secs_f64(args.num("drain", 3.0));
    let slow = args.num("slow", 0.0) as usize;
    let sample_every = Duration::from_millis(args.num("sample-ms", 1000.0) as u64);
    let pid = args.flags.get("server-pid").cloned();
    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let stop_readers = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut streams = vec![];
    for _ in 0..clients {
        streams.push(connect(&addr));
    }
    let idle_slow: Vec<TcpStream> = (0..slow).map(|_| connect(&addr)).collect();
    // Everyone is connected (and joined) before anyone speaks.
    thread::sleep(Duration::from_millis(500));
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + duration;
    let mut readers = vec![];
    let mut senders = vec![];
    for (id, stream) in streams.into_iter().enumerate() {
        let reader_stream = stream.try_clone().unwrap();
        reader_stream.set_read_timeout(Some(Duration::from_millis(200))).ok();
        let (delivered, latencies, stop) = (delivered.clone(), latencies.clone(), stop_readers.clone());
        readers.push(thread::spawn(move || {
            let mut reader = BufReader::with_capacity(64 * 1024, reader_stream);
            let mut line = Vec::with_capacity(256);
            let mut lat = Vec::with_capacity(1 << 16);
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
                        lat.push(now_us(epoch).saturating_sub(sent_us) as u32);
                    }
                }
            }
            latencies.lock().unwrap().extend(lat);
        }));
        let (barrier, sent) = (barrier.clone(), sent.clone());
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
                next += period;
            }
        }));
    }
    barrier.wait();
    thread::sleep(start.saturating_duration_since(Instant::now()));
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
    let expected = total_sent * (clients as u64 - 1);
    // Let what is in flight arrive (bounded), then stop the readers.
    let drain_end = Instant::now() + drain;
    while Instant::now() < drain_end && delivered.load(Ordering::Relaxed) < expected {
        thread::sleep(Duration::from_millis(50));
    }
    stop_readers.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().ok();
    }
    drop(idle_slow);
    let got = delivered.load(Ordering::Relaxed);
    let lat = std::mem::take(&mut *latencies.lock().unwrap());
    let samples: Vec<String> = rss_samples.iter().map(|k| k.to_string()).collect();
    report(
        "chat",
        got,
        cpu.2,
        lat,
        cpu,
        pid.as_deref(),
        &[
            ("sent", total_sent.to_string()),
            ("expected", expected.to_string()),
            ("delivered_ratio", format!("{:.5}", if expected == 0 { 0.0 } else { got as f64 / expected as f64 })),
            ("rss_samples_kib", format!("[{}]", samples.join(","))),
        ],
    );
}

/// Idle capacity: open `clients` connections, read whatever greeting the
/// server sends, hold them, and report the server's RSS growth.
fn idle(args: &Args) {
    let addr = args.str("addr");
    let clients = args.num("clients", 1000.0) as usize;
    let settle = Duration::from_secs_f64(args.num("settle", 1.0));
    let pid = args.str("server-pid");
    let baseline = status_kib(&pid, "VmRSS").unwrap_or(0);
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
    println!(
        "{{\"scenario\":\"idle\",\"clients\":{clients},\"connected\":{connected},\"failed\":{failed},\"baseline_rss_kib\":{baseline},\"rss_kib\":{rss},\"bytes_per_conn\":{per_conn:.0}}}"
    );
    drop(held);
}

fn main() {
    let args = Args::parse();
    match args.scenario.as_str() {
        "tcp-echo" => tcp_echo(&args),
        "tcp-bulk" => tcp_bulk(&args),
        "udp-echo" => udp_echo(&args),
        "chat" => chat(&args),
        "idle" => idle(&args),
        other => usage(&format!("unknown scenario {other}")),
    }
}
