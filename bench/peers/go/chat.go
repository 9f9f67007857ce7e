// Chat peer: the channel-based broadcaster of "The Go Programming Language"
// (section 8.10): one broadcaster goroutine, a buffered channel and a writer
// goroutine per client, every line sent to every other client.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
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

func handleConn(conn net.Conn) {
	ch := make(chan string, 256)
	go clientWriter(conn, ch)
	who := conn.RemoteAddr().String()
	entering <- ch
	input := bufio.NewScanner(conn)
	for input.Scan() {
		messages <- message{ch, "<" + who + "> " + input.Text()}
	}
	leaving <- ch
	conn.Close()
}

func clientWriter(conn net.Conn, ch <-chan string) {
	for msg := range ch {
		fmt.Fprintln(conn, msg)
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port (0 = any)")
	flag.Parse()
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	go broadcaster()
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue
		}
		go handleConn(conn)
	}
}
