// WebSocket echo peer: gorilla/websocket's echo example, every message sent
// back with its type (text or binary), on any path.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(kind, data); err != nil {
			return
		}
	}
}

func main() {
	httpPort := flag.Int("http-port", 0, "HTTP port (0 = any)")
	flag.Parse()
	web, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *httpPort))
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on http=%s\n", web.Addr())
	http.Serve(web, http.HandlerFunc(echo))
}
