//! The `lines` protocol on tokio's current_thread runtime, written the way a careful tokio
//! user would: one task per connection, a read buffer, one `write_all` per batch of answers,
//! accept errors survived. Greets "hello\n"; answers each line L with "Lresponse\n"; a line
//! over 65536 bytes gets "error: line too long (limit 65536 bytes)\n" and a close. Prints its
//! port first.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_LINE: usize = 65536;
const TOO_LONG: &[u8] = b"error: line too long (limit 65536 bytes)\n";

async fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    if write.write_all(b"hello\n").await.is_err() {
        return;
    }
    let mut input = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match read.read(&mut buf).await {
            // An unterminated last line is not answered.
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        input.extend_from_slice(&buf[..n]);
        // Answer every complete line already buffered before writing, as a pipelining
        // server should.
        out.clear();
        let mut start = 0;
        let mut too_long = false;
        while let Some(at) = input[start..].iter().position(|&b| b == b'\n') {
            let line = &input[start..start + at];
            if line.len() > MAX_LINE {
                too_long = true;
                break;
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"response\n");
            start += at + 1;
        }
        input.drain(..start);
        too_long |= input.len() > MAX_LINE;
        if too_long {
            out.extend_from_slice(TOO_LONG);
        }
        if !out.is_empty() && write.write_all(&out).await.is_err() {
            return;
        }
        if too_long {
            return;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{}", listener.local_addr()?.port());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            // A client that gave up before it was accepted: the next one is waiting.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => {}
            // Out of descriptors (EMFILE, ENFILE): pause instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
