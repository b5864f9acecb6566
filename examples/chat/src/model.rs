//! The chat protocol as muxsim's reference model, written apart from the service: fed what
//! the server read, in the order it read it, it says what every connection must receive.
//! muxsim applies the line limit itself (the protocol declares it) and compares each
//! connection's lines with the model's, whatever the segmentation.

use std::collections::BTreeMap;

use muxsim::service::{Deliveries, Model};

#[derive(Debug)]
struct Member {
    nick: Option<Vec<u8>>,
    room: Vec<u8>,
}

/// Who is connected, under which name, in which room.
#[derive(Debug, Default)]
pub struct ChatModel {
    members: BTreeMap<usize, Member>,
}

fn valid_name(name: &[u8]) -> bool {
    (1..=16).contains(&name.len()) && name.iter().all(u8::is_ascii_alphanumeric)
}

impl Model for ChatModel {
    fn connected(&mut self, conn: usize, out: &mut Deliveries) {
        self.members.insert(
            conn,
            Member {
                nick: None,
                room: super::LOBBY.to_vec(),
            },
        );
        out.send(conn, super::GREETING);
    }

    fn message(&mut self, conn: usize, payload: &[u8], out: &mut Deliveries) {
        let line = payload.strip_suffix(b"\r").unwrap_or(payload);
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &b""[..]),
        };
        let Some(me) = self.members.get_mut(&conn) else {
            return;
        };
        match word {
            b"NICK" if valid_name(rest) => {
                me.nick = Some(rest.to_vec());
                out.send(conn, &b"ok\n"[..]);
            }
            b"NICK" => out.send(conn, &b"ERR bad nick\n"[..]),
            b"JOIN" if valid_name(rest) => {
                me.room = rest.to_vec();
                out.send(conn, &b"ok\n"[..]);
            }
            b"JOIN" => out.send(conn, &b"ERR bad room\n"[..]),
            b"MSG" => {
                let Some(nick) = me.nick.clone() else {
                    out.send(conn, &b"ERR no nick\n"[..]);
                    return;
                };
                let room = me.room.clone();
                let text = [&nick[..], b": ", rest, b"\n"].concat();
                for (&other, m) in &self.members {
                    if other != conn && m.room == room {
                        out.send(other, text.clone());
                    }
                }
            }
            b"QUIT" if rest.is_empty() => {
                out.send(conn, &b"bye\n"[..]);
                out.close(conn);
                self.members.remove(&conn);
            }
            _ => out.send(conn, &b"ERR unknown command\n"[..]),
        }
    }

    fn peer_closed(&mut self, conn: usize, out: &mut Deliveries) {
        // A client that ends its stream leaves.
        self.members.remove(&conn);
        out.close(conn);
    }

    fn closed(&mut self, conn: usize, _out: &mut Deliveries) {
        self.members.remove(&conn);
    }
}
