// TLS echo peer: the idiomatic Go server, crypto/tls over a goroutine per
// connection and io.Copy; TLS 1.2 and 1.3, Go's default (AEAD) suites.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
)

func main() {
	port := flag.Int("port", 0, "TCP port (0 = any)")
	certFile := flag.String("cert", "", "certificate (PEM)")
	keyFile := flag.String("key", "", "private key (PEM)")
	flag.Parse()
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		panic(err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	listener, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port), config)
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			io.Copy(c, c)
		}(conn)
	}
}
