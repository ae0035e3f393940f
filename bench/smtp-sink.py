"""A counting SMTP sink for bench/run's invitation rows: accepts every message on loopback and
appends one line per message (its envelope recipients) to a file, nothing else.

aiosmtpd (the tests' server) answers each message only after Linux's delayed ACK of the
message's final dot has run out (lettre writes the body and the terminating dot separately, and
Nagle holds the dot until the body is acknowledged): about 40 ms per message whatever the client.
This sink acknowledges at once (TCP_QUICKACK after every read), so the figures measure the
sender, not the timer. Standard library only.

Usage: /usr/bin/python3 bench/smtp-sink.py PORT LOG_FILE
"""

import asyncio
import socket
import sys


class Session(asyncio.Protocol):
    def __init__(self, log):
        self.log = log
        self.buffer = b""
        self.in_data = False
        self.recipients = []

    def connection_made(self, transport):
        self.transport = transport
        self.sock = transport.get_extra_info("socket")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reply(b"220 bench-sink ESMTP")

    def reply(self, line):
        self.transport.write(line + b"\r\n")

    def data_received(self, data):
        # Quick ACK is cleared by the kernel after it is used: set it again after every read.
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.log.write(",".join(self.recipients) + "\n")
                self.log.flush()
                self.recipients = []
                self.reply(b"250 OK queued")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.reply(b"250-bench-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif verb == b"HELO":
                self.reply(b"250 bench-sink")
            elif verb == b"MAIL":
                self.recipients = []
                self.reply(b"250 OK")
            elif verb == b"RCPT":
                address = line.split(b":", 1)[-1].strip().strip(b"<>").split(b">")[0]
                self.recipients.append(address.decode("utf-8", "replace").lower())
                self.reply(b"250 OK")
            elif verb == b"DATA":
                self.in_data = True
                # The line break before the terminating dot may be the one that ended DATA.
                self.buffer = b"\r\n" + self.buffer
                self.reply(b"354 End data with <CR><LF>.<CR><LF>")
            elif verb == b"QUIT":
                self.reply(b"221 Bye")
                self.transport.close()
                return
            elif verb in (b"RSET", b"NOOP"):
                self.reply(b"250 OK")
            else:
                self.reply(b"502 Command not implemented")


async def main(port, path):
    with open(path, "a", encoding="utf-8") as log:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Session(log), "127.0.0.1", port)
        async with server:
            await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
