// The TLS load generator of `deno task bench` (Go, standard library only).
//
// Why Go and not bench/loadgen: the Rust load generator uses std only (no
// crates), and Rust's std has no cryptography; a TLS client needs ECDHE,
// an AEAD and a hash, which would mean writing a TLS stack by hand for a
// benchmark. Go's crypto/tls is in its standard library, and Go is already
// needed for the peers. Its output is one JSON object with the same fields
// as the Rust load generator's (`ops_per_sec`, `p99_us`,
// `server_cpu_us_per_op`, ...).
//
//	tlsload gencert DIR                      a throwaway P-256 certificate for localhost
//	tlsload tls-echo --addr H:P [--conns 50] [--size 64] [--duration 2] [--warmup 0.5] [--server-pid PID]
//	tlsload tls-handshake --addr H:P [--conns 8] [--duration 2] [--warmup 0.5] [--server-pid PID]
//
// tls-echo: each connection writes `size` bytes, reads them back, repeats.
// tls-handshake: each worker connects, completes a full handshake (no
// resumption), sends one byte and reads it back (so the server finished its
// side), closes, repeats; an op is one connection.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage("a scenario is needed")
	}
	scenario := os.Args[1]
	if scenario == "gencert" {
		if len(os.Args) != 3 {
			usage("gencert DIR")
		}
		gencert(os.Args[2])
		return
	}
	flags := flag.NewFlagSet(scenario, flag.ExitOnError)
	addr := flags.String("addr", "", "server HOST:PORT")
	conns := flags.Int("conns", 50, "connections (tls-echo) or workers (tls-handshake)")
	size := flags.Int("size", 64, "message bytes (tls-echo)")
	duration := flags.Float64("duration", 2, "seconds measured")
	warmup := flags.Float64("warmup", 0.5, "seconds before measuring")
	pid := flags.String("server-pid", "", "server process (for its CPU and RSS)")
	flags.Parse(os.Args[2:])
	if *addr == "" {
		usage("--addr is required")
	}
	run := runner{
		addr:     *addr,
		conns:    *conns,
		size:     *size,
		warmup:   time.Duration(*warmup * float64(time.Second)),
		duration: time.Duration(*duration * float64(time.Second)),
		pid:      *pid,
		config:   &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"},
	}
	switch scenario {
	case "tls-echo":
		run.echo()
	case "tls-handshake":
		run.handshakes()
	default:
		usage("unknown scenario " + scenario)
	}
}

func usage(problem string) {
	fmt.Fprintf(os.Stderr, "tlsload: %s\nusage: tlsload gencert DIR | tls-echo|tls-handshake --addr HOST:PORT [--flag value]...\n", problem)
	os.Exit(2)
}

type runner struct {
	addr             string
	conns, size      int
	warmup, duration time.Duration
	pid              string
	config           *tls.Config
}

// window measures the server's CPU and ours between open() and close().
type window struct {
	pid                    string
	serverStart, selfStart int64
	started                time.Time
	serverUs, selfUs       int64
	seconds                float64
}

func cpuUs(pid string) int64 {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	text := string(stat)
	fields := strings.Fields(text[strings.LastIndexByte(text, ')')+2:])
	if len(fields) < 13 {
		return -1
	}
	user, _ := strconv.ParseInt(fields[11], 10, 64)
	system, _ := strconv.ParseInt(fields[12], 10, 64)
	return (user + system) * 1_000_000 / 100 // USER_HZ is 100 on Linux
}

func peakRssKib(pid string) float64 {
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			value, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return value
		}
	}
	return -1
}

func (w *window) open(pid string) {
	w.pid = pid
	w.started = time.Now()
	w.selfStart = cpuUs("self")
	if pid != "" {
		w.serverStart = cpuUs(pid)
	}
}

func (w *window) close() {
	w.seconds = time.Since(w.started).Seconds()
	w.selfUs = cpuUs("self") - w.selfStart
	if w.pid != "" {
		w.serverUs = cpuUs(w.pid) - w.serverStart
	}
}

// latencies collects per-op microseconds from many goroutines.
type latencies struct {
	mu     sync.Mutex
	values []int64
}

func (l *latencies) add(values []int64) {
	l.mu.Lock()
	l.values = append(l.values, values...)
	l.mu.Unlock()
}

func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

func number(value float64, ok bool) string {
	if !ok {
		return "null"
	}
	return strconv.FormatFloat(value, 'f', 3, 64)
}

func (r *runner) report(scenario string, ops int64, errors int64, w *window, lat []int64, extra string) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	seconds := w.seconds
	if limit := r.duration.Seconds(); seconds > limit {
		seconds = limit
	}
	perOp, hasPerOp := 0.0, false
	if r.pid != "" && ops > 0 && w.serverUs >= 0 {
		perOp, hasPerOp = float64(w.serverUs)/float64(ops), true
	}
	peak, hasPeak := 0.0, false
	if r.pid != "" {
		peak = peakRssKib(r.pid)
		hasPeak = peak >= 0
	}
	fmt.Printf("{\"scenario\":\"%s\",\"ops\":%d,\"seconds\":%.3f,\"ops_per_sec\":%.1f,\"p50_us\":%d,\"p99_us\":%d,"+
		"\"server_cpu_us_per_op\":%s,\"server_peak_rss_kib\":%s,\"loadgen_cpu\":%.3f,\"errors\":%d,\"conns\":%d%s}\n",
		scenario, ops, seconds, float64(ops)/seconds, percentile(lat, 50), percentile(lat, 99),
		number(perOp, hasPerOp), number(peak, hasPeak), float64(w.selfUs)/1e6/w.seconds, errors, r.conns, extra)
}

func (r *runner) dial() (*tls.Conn, error) {
	raw, err := net.Dial("tcp", r.addr)
	if err != nil {
		return nil, err
	}
	raw.(*net.TCPConn).SetNoDelay(true)
	conn := tls.Client(raw, r.config)
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// timeline: the warm-up, then the measured window; workers stop at `end`.
func (r *runner) timeline() (start, measureFrom, end time.Time, w *window, done chan struct{}) {
	start = time.Now()
	measureFrom = start.Add(r.warmup)
	end = measureFrom.Add(r.duration)
	w = &window{}
	done = make(chan struct{})
	go func() {
		time.Sleep(time.Until(measureFrom))
		w.open(r.pid)
		time.Sleep(time.Until(end))
		w.close()
		close(done)
	}()
	return
}

func (r *runner) echo() {
	conns := make([]*tls.Conn, r.conns)
	for i := range conns {
		conn, err := r.dial()
		for tries := 0; err != nil && tries < 50; tries++ {
			time.Sleep(20 * time.Millisecond)
			conn, err = r.dial()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tlsload: cannot connect to %s: %v\n", r.addr, err)
			os.Exit(1)
		}
		conns[i] = conn
	}
	_, measureFrom, end, w, done := r.timeline()
	var ops, errors int64
	all := &latencies{}
	var wg sync.WaitGroup
	for _, conn := range conns {
		wg.Add(1)
		go func(conn *tls.Conn) {
			defer wg.Done()
			defer conn.Close()
			message := make([]byte, r.size)
			for i := range message {
				message[i] = 'x'
			}
			reply := make([]byte, r.size)
			own := make([]int64, 0, 1<<14)
			for {
				sent := time.Now()
				if sent.After(end) {
					break
				}
				if _, err := conn.Write(message); err != nil {
					atomic.AddInt64(&errors, 1)
					break
				}
				if _, err := io.ReadFull(conn, reply); err != nil {
					atomic.AddInt64(&errors, 1)
					break
				}
				if !sent.Before(measureFrom) && sent.Before(end) {
					atomic.AddInt64(&ops, 1)
					own = append(own, time.Since(sent).Microseconds())
				}
			}
			all.add(own)
		}(conn)
	}
	<-done
	wg.Wait()
	r.report("tls-echo", atomic.LoadInt64(&ops), atomic.LoadInt64(&errors), w, all.values,
		fmt.Sprintf(",\"size\":%d", r.size))
}

func (r *runner) handshakes() {
	// The server is up before the clock starts.
	for tries := 0; ; tries++ {
		conn, err := r.dial()
		if err == nil {
			conn.Close()
			break
		}
		if tries == 50 {
			fmt.Fprintf(os.Stderr, "tlsload: cannot connect to %s: %v\n", r.addr, err)
			os.Exit(1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, measureFrom, end, w, done := r.timeline()
	var ops, errors int64
	var tls13 int64
	all := &latencies{}
	var wg sync.WaitGroup
	for i := 0; i < r.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := []byte{'x'}
			reply := make([]byte, 1)
			own := make([]int64, 0, 1<<12)
			for {
				started := time.Now()
				if started.After(end) {
					break
				}
				conn, err := r.dial()
				if err == nil {
					if conn.ConnectionState().Version == tls.VersionTLS13 {
						atomic.AddInt64(&tls13, 1)
					}
					if _, err = conn.Write(one); err == nil {
						_, err = io.ReadFull(conn, reply)
					}
					conn.Close()
				}
				if err != nil {
					atomic.AddInt64(&errors, 1)
					time.Sleep(time.Millisecond)
					continue
				}
				if !started.Before(measureFrom) && started.Before(end) {
					atomic.AddInt64(&ops, 1)
					own = append(own, time.Since(started).Microseconds())
				}
			}
			all.add(own)
		}()
	}
	<-done
	wg.Wait()
	r.report("tls-handshake", atomic.LoadInt64(&ops), atomic.LoadInt64(&errors), w, all.values,
		fmt.Sprintf(",\"tls13_conns\":%d", atomic.LoadInt64(&tls13)))
}

// gencert writes DIR/cert.pem and DIR/key.pem: a self-signed P-256
// certificate for localhost and 127.0.0.1, valid for two days.
func gencert(dir string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(48 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	check(err)
	keyDer, err := x509.MarshalPKCS8PrivateKey(key)
	check(err)
	check(os.MkdirAll(dir, 0o700))
	check(os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	check(os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDer}), 0o600))
}

func check(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlsload: %v\n", err)
		os.Exit(1)
	}
}
