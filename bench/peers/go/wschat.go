// WebSocket + TCP chat peer: the broadcaster of "The Go Programming Language"
// (section 8.10, as in chat.go) with clients on TCP (one line per line) and on
// gorilla/websocket at /ws (one line per text message). Each client has a
// writer goroutine that, like gorilla's own chat example (writePump), puts the
// lines already queued for it into the same write: one WebSocket message with
// the lines separated by newlines, or one TCP write.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

type client chan<- string

type message struct {
	from client
	text string
}

var (
	entering = make(chan client)
	leaving  = make(chan client)
	messages = make(chan message)
)

func broadcaster() {
	clients := make(map[client]bool)
	for {
		select {
		case msg := <-messages:
			for cli := range clients {
				if cli != msg.from {
					cli <- msg.text
				}
			}
		case cli := <-entering:
			clients[cli] = true
		case cli := <-leaving:
			delete(clients, cli)
			close(cli)
		}
	}
}

func handleTCP(conn net.Conn) {
	ch := make(chan string, 256)
	go tcpWriter(conn, ch)
	who := conn.RemoteAddr().String()
	entering <- ch
	input := bufio.NewScanner(conn)
	for input.Scan() {
		messages <- message{ch, "<" + who + "> " + input.Text()}
	}
	leaving <- ch
	conn.Close()
}

func tcpWriter(conn net.Conn, ch <-chan string) {
	var buf []byte
	for msg := range ch {
		buf = append(append(buf[:0], msg...), '\n')
		for n := len(ch); n > 0; n-- {
			buf = append(append(buf, <-ch...), '\n')
		}
		conn.Write(buf)
	}
}

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

func handleWS(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ch := make(chan string, 256)
	go wsWriter(conn, ch)
	who := conn.RemoteAddr().String()
	entering <- ch
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			if len(line) > 0 {
				messages <- message{ch, "<" + who + "> " + string(line)}
			}
		}
	}
	leaving <- ch
	conn.Close()
}

func wsWriter(conn *websocket.Conn, ch <-chan string) {
	for msg := range ch {
		w, err := conn.NextWriter(websocket.TextMessage)
		if err != nil {
			continue // keep draining until the reader sees the error and leaves
		}
		w.Write([]byte(msg))
		for n := len(ch); n > 0; n-- {
			w.Write([]byte{'\n'})
			w.Write([]byte(<-ch))
		}
		w.Close()
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port (0 = any)")
	httpPort := flag.Int("http-port", 0, "HTTP port for WebSocket at /ws (0 = any)")
	flag.Parse()
	tcp, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		panic(err)
	}
	web, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *httpPort))
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on tcp=%s http=%s\n", tcp.Addr(), web.Addr())
	go broadcaster()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", handleWS)
	go http.Serve(web, mux)
	for {
		conn, err := tcp.Accept()
		if err != nil {
			continue
		}
		go handleTCP(conn)
	}
}
