// TCP echo peer: the idiomatic Go server, a goroutine per connection and io.Copy.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
)

func main() {
	port := flag.Int("port", 0, "TCP port (0 = any)")
	flag.Parse()
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
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
