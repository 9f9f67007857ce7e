// UDP echo peer: the idiomatic Go loop, ReadFrom then WriteTo.
package main

import (
	"flag"
	"fmt"
	"net"
)

func main() {
	port := flag.Int("port", 0, "UDP port (0 = any)")
	flag.Parse()
	conn, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on %s\n", conn.LocalAddr())
	buffer := make([]byte, 65536)
	for {
		n, addr, err := conn.ReadFrom(buffer)
		if err != nil {
			continue
		}
		conn.WriteTo(buffer[:n], addr)
	}
}
