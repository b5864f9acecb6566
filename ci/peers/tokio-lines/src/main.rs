//! The `lines` protocol on tokio's current_thread runtime, written the way a tokio user
//! would: one task per connection, a buffered reader, `write_all` per answer batch.
//! Greets "hello\n"; answers each line L with "Lresponse\n". Prints its port first.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("{}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            if write.write_all(b"hello\n").await.is_err() {
                return;
            }
            let mut reader = BufReader::new(read);
            let mut line = Vec::new();
            let mut out = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.last() != Some(&b'\n') {
                    return;
                }
                out.clear();
                out.extend_from_slice(&line[..line.len() - 1]);
                out.extend_from_slice(b"response\n");
                // Answer everything already buffered before writing, as a pipelining server should.
                while reader.buffer().contains(&b'\n') {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await.is_err() {
                        return;
                    }
                    out.extend_from_slice(&line[..line.len() - 1]);
                    out.extend_from_slice(b"response\n");
                }
                if write.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}
