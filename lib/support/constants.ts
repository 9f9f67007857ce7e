/**
 * Every default and hard limit of Parley in one place.
 *
 * `DEFAULT_*` values are what a flag takes when it is not given; `MAX_*`
 * values are hard caps that no flag can exceed.
 *
 * @module
 */

/** Version printed by `--version`; kept equal to `deno.json` by a test. */
export const VERSION = "0.1.0";

/** Name the chat server gives itself in the welcome line. */
export const DEFAULT_SERVER_NAME = "parley";

/** Interface the servers bind when `--host` is not given. */
export const DEFAULT_HOST = "0.0.0.0";

/** TCP port of the chat server (and echo mode) when `--port` is not given. */
export const DEFAULT_CHAT_PORT = 7878;

/** HTTP port (WebSocket, browser page) when `--http-port` is not given. */
export const DEFAULT_HTTP_PORT = 7880;

/** Path of the chat's WebSocket endpoint on the HTTP port. */
export const CHAT_WS_PATH = "/ws";

/** Path of the echo server's WebSocket endpoint (`--ws-path`). */
export const DEFAULT_ECHO_WS_PATH = "/";

/**
 * A WebSocket chat message may carry this many lines of `--max-line-bytes`
 * (64 KiB with the default 4 KiB lines); a bigger message closes with 1009.
 */
export const WS_MESSAGE_LINES = 16;

/** Largest WebSocket echo message (`--max-message-bytes`, 16 MiB: the conformance suite's largest). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Seconds between WebSocket pings (`--ping-interval`); no pong by the next one closes. */
export const DEFAULT_PING_INTERVAL_SECONDS = 30;

/**
 * Input budget each WebSocket frame costs on top of its bytes (64): a
 * ping, a pong, an empty message or a zero-length continuation carries no
 * message bytes but costs the server work, so a flood of them is throttled
 * like a flood of bytes.
 */
export const WS_FRAME_CHARGE_BYTES = 64;

/**
 * Most frames one WebSocket message may arrive in (1024); more closes with
 * 1008. Each fragment costs the parser an object until its message ends.
 */
export const WS_MAX_FRAGMENTS = 1024;

/**
 * Milliseconds a WebSocket may stay over its input budget without a break
 * (throttled, not read) before it is closed with 1008 (5 s).
 */
export const WS_THROTTLE_CLOSE_MS = 5000;

/**
 * Pongs that may wait in a WebSocket's queue (16); past that, while the
 * peer does not take them, one waits and a newer ping replaces it.
 */
export const WS_MAX_QUEUED_PONGS = 16;

/** Bytes of a WebSocket's first read buffer; one that fills it gets {@linkcode WS_READ_BUFFER_GROWN_BYTES}. */
export const WS_READ_BUFFER_BYTES = 1024;
/** See {@linkcode WS_READ_BUFFER_BYTES} (16 KiB). */
export const WS_READ_BUFFER_GROWN_BYTES = 16 * 1024;

/**
 * Input budget of one WebSocket echo connection (bytes per second; the
 * burst is two seconds' worth), frames charged as in chat. An address gets
 * four times it.
 */
export const ECHO_WS_INPUT_BYTES_RATE = 8 * 1024 * 1024;

/**
 * Pending connections the kernel keeps for each listener (`--backlog`,
 * 4096; Linux caps it at `net.core.somaxconn`).
 */
export const DEFAULT_TCP_BACKLOG = 4096;

/** Largest HTTP request head (request line plus headers) in bytes; more gets 431. */
export const MAX_HTTP_HEAD_BYTES = 8192;

/** Milliseconds a connection to the HTTP port gets to send its whole request head. */
export const HTTP_HEAD_TIMEOUT_MS = 10_000;

/**
 * Refused connections that may linger at once to read their refusal; more
 * are closed at once. Bounds the descriptors a connect flood can hold.
 */
export const MAX_LINGERING_REFUSALS = 64;

/** Descriptors kept in reserve beyond the connection limits (listeners, logs, Redis). */
export const RESERVED_DESCRIPTORS = 32;

/** UDP port of `udp_echo.ts serve` when `--port` is not given. */
export const DEFAULT_UDP_PORT = 7879;

/** Clients served at once before new ones are refused (`--max-clients`). */
export const DEFAULT_MAX_CLIENTS = 1000;

/** Connections from one IP address before new ones are refused (`--max-per-ip`, 0 = off). */
export const DEFAULT_MAX_PER_IP = 20;

/** Longest input line in bytes, line ending excluded (`--max-line-bytes`). */
export const DEFAULT_MAX_LINE_BYTES = 4096;

/** Smallest accepted `--max-line-bytes`. */
export const MIN_MAX_LINE_BYTES = 64;

/** Largest accepted `--max-line-bytes` (1 MiB). */
export const MAX_MAX_LINE_BYTES = 1024 * 1024;

/** Bytes that may wait in one client's outbound queue (`--max-queue-bytes`, 1 MiB). */
export const DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024;

/** Lines per second one client may send, sustained (`--rate`). */
export const DEFAULT_RATE = 10;

/** Lines one client may send in a burst above the rate (`--burst`). */
export const DEFAULT_BURST = 20;

/**
 * An IP address's line budget, in members' worth: `--ip-rate` defaults to
 * this times `--rate`, `--ip-burst` to this times `--burst`.
 */
export const IP_BUDGET_MEMBERS = 4;

/**
 * Bytes per second of private messages one IP address may send to one
 * member (`--msg-bytes-rate`); the burst is four seconds' worth.
 */
export const DEFAULT_MSG_BYTES_RATE = 16 * 1024;

/**
 * Floors of the input byte budgets (bytes per second, and burst) of one
 * connection; an address gets {@linkcode IP_BUDGET_MEMBERS} times these.
 */
export const MIN_INPUT_BYTES_RATE = 16 * 1024;
/** See {@linkcode MIN_INPUT_BYTES_RATE}. */
export const MIN_INPUT_BYTES_BURST = 64 * 1024;

/** Name of the cluster when `--redis` is given without `--cluster`. */
export const DEFAULT_CLUSTER = "parley";

/** Milliseconds between a cluster node's heartbeats (and its checks of the others). */
export const CLUSTER_HEARTBEAT_MS = 2000;

/**
 * Milliseconds a node's heartbeat key lives: a node silent this long is
 * gone, and another announces its members as left within one more beat.
 */
export const CLUSTER_NODE_TTL_MS = 10_000;

/** Events kept in each room's Redis stream (history and gap filling). */
export const CLUSTER_STREAM_LENGTH = 1000;

/** Messages kept per room and replayed on join (`--history`, 0 = off). */
export const DEFAULT_HISTORY = 20;

/** Largest accepted `--history`. */
export const MAX_HISTORY = 1000;

/** Bytes of history kept per room (`--room-history-bytes`, 64 KiB). */
export const DEFAULT_ROOM_HISTORY_BYTES = 64 * 1024;

/** Bytes of history kept over all rooms (`--history-bytes`, 16 MiB). */
export const DEFAULT_HISTORY_BYTES = 16 * 1024 * 1024;

/**
 * Seconds without a non-empty line (or WebSocket message) before a chat
 * member is closed (`--idle-timeout`, 0 = off). Off by default: a member
 * who only reads is using the chat, and must not be dropped for it; dead
 * peers are found by TCP keep-alive and WebSocket pings instead, and
 * `--max-clients` and `--max-per-ip` bound silent connections. In echo mode
 * any byte (or message) counts; the echo library API defaults to 0 too.
 */
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 0;

/** Milliseconds shutdown waits for outbound queues to drain (`--shutdown-timeout`). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** The data directory of the embedded store (`--data-dir`), relative to the working directory. */
export const DEFAULT_DATA_DIR = "./parley-data";

/**
 * Rooms with more members than this do not announce joins and leaves
 * (`--announce-limit`, 0 = always announce): in a room of thousands every
 * join would otherwise cost a notice to everyone.
 */
export const DEFAULT_ANNOUNCE_LIMIT = 200;

/** Room every client starts in. */
export const DEFAULT_ROOM = "lobby";

/** Longest nick, in characters. */
export const MAX_NICK_LENGTH = 24;

/** Longest room name, in characters. */
export const MAX_ROOM_LENGTH = 32;

/**
 * Size of the buffer a chat connection starts reading into (reused for
 * every read). Small, because a thousand idle clients must be cheap: Deno's
 * own cost is about 6.7 KiB per idle connection.
 */
export const CHAT_READ_BUFFER_BYTES = 256;

/** Size it grows to, once, for a client whose reads fill the small buffer. */
export const CHAT_READ_BUFFER_GROWN_BYTES = 16 * 1024;

/** Size of the buffer each echo connection reads into (reused for every read). */
export const ECHO_READ_BUFFER_BYTES = 64 * 1024;

/**
 * Milliseconds a client that is leaving (quit, idle, end of input) gets to
 * take what is queued for it before the connection is closed.
 */
export const CLOSE_GRACE_MS = 1000;

/** Milliseconds a refused client gets to read its refusal before the close. */
export const REFUSAL_LINGER_MS = 1000;

/** Milliseconds an HTTP error reply (400, 408, 431, a refusal's 503) gets to leave before the socket is destroyed. */
export const HTTP_ERROR_LINGER_MS = 100;

/** Seconds an HTTP client refused by a limit (503) is told to wait before trying again (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 10;

/** Bytes of log lines that may wait for stderr before lines are dropped (1 MiB). */
export const DEFAULT_LOG_QUEUE_BYTES = 1024 * 1024;

/** Host the client connects to when none is given. */
export const DEFAULT_CLIENT_HOST = "localhost";

/** Milliseconds the client waits for a connection (`--connect-timeout`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Longest line the client accepts from a server before skipping it (1 MiB). */
export const MAX_INCOMING_LINE_BYTES = 1024 * 1024;

/** Milliseconds a quitting client waits for the server to close. */
export const QUIT_WAIT_MS = 2000;

/** Bytes the terminal client may queue for the server before refusing to send more. */
export const MAX_CLIENT_QUEUE_BYTES = 1024 * 1024;

/** Milliseconds `udp_echo.ts send` waits for each reply (`--timeout`). */
export const DEFAULT_UDP_TIMEOUT_MS = 1000;

/** Attempts after the first per UDP request (`--retries`). */
export const DEFAULT_UDP_RETRIES = 2;

/** Milliseconds between requests in ping mode (`--interval`). */
export const DEFAULT_PING_INTERVAL_MS = 1000;

/** Datagram size in ping mode, header included (`--size`). */
export const DEFAULT_PING_SIZE = 64;

/** Replies a second the UDP echo server sends one source address (`--max-replies-per-ip`). */
export const DEFAULT_UDP_REPLIES_PER_SECOND = 1000;

/**
 * Reply bytes a second the UDP echo sends one source address
 * (`--max-reply-bytes-per-ip`, 0 = no bound): 128 KiB/s, a thousand
 * 128-byte pings a second, while a forged victim gets at most about 1 Mbit/s
 * from one server however large the datagrams.
 */
export const DEFAULT_UDP_REPLY_BYTES_PER_SECOND = 131_072;

/** Largest UDP payload over IPv4: 65,535 − 8 (UDP header) − 20 (IP header). */
export const MAX_UDP_PAYLOAD = 65_507;

/** Milliseconds the client waits for the server to answer its WebSocket close before dropping the connection. */
export const WS_CLOSE_WAIT_MS = 2000;

/** Largest WebSocket message the client accepts (16 MiB); a bigger one closes with 1009. */
export const MAX_CLIENT_WS_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Bytes of stdin per binary message with `client.ts --binary` (64 KiB). */
export const WS_BINARY_CHUNK_BYTES = 64 * 1024;

/** Seconds between the client's WebSocket pings (`--ping-interval`, 0 = off: servers ping). */
export const DEFAULT_CLIENT_PING_INTERVAL_SECONDS = 0;

/** Milliseconds a TLS client gets to complete its handshake (`--tls-handshake-timeout`). */
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Bytes a TLS connection may hold inside the TLS layer that its reader has
 * not taken (256 KiB). Past that the server stops reading the socket and
 * TCP flow control slows the peer: Deno's TLS layer itself keeps reading
 * without bound.
 */
export const MAX_TLS_UNCONSUMED_BYTES = 256 * 1024;

/**
 * Milliseconds after the end of the stream under a TLS socket, with nothing
 * left to read, before the socket counts as ended though the TLS layer did
 * not say so (Deno 2.9.6 now and then loses it).
 */
export const TLS_LOST_EOF_GRACE_MS = 50;

/** Milliseconds a plain-text client of a TLS port gets to read why it is closed. */
export const TLS_PLAINTEXT_LINGER_MS = 1000;
