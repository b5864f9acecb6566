//! The kvstore specification as a model, written apart from the service: from the lines a
//! client sent, what it must receive. muxsim's [`RequestResponse`] oracle runs it per client
//! and adds what the protocol declares: the greeting, framing, the line limit and its error,
//! and the idle deadline that alone may close a connection early.

use std::collections::BTreeMap;

use muxsim::{Reply, RequestResponse};

fn answer(text: &[u8]) -> Reply {
    Reply::answer([text, b"\r\n"].concat())
}

/// The reply to one line (without its `\n`), given the client's keys.
pub fn reply(keys: &mut BTreeMap<Vec<u8>, Vec<u8>>, request: &[u8]) -> Reply {
    let line = request.strip_suffix(b"\r").unwrap_or(request);
    let words: Vec<&[u8]> = line.splitn(3, |&b| b == b' ').collect();
    match words.as_slice() {
        [b""] => answer(b"ERR empty line"),
        [b"PING"] => answer(b"PONG"),
        [b"QUIT"] => Reply::close(b"BYE\r\n".to_vec()),
        [b"SET", key, value] => {
            keys.insert(key.to_vec(), value.to_vec());
            answer(b"OK")
        }
        [b"GET", key] => match keys.get(*key) {
            Some(value) => answer(&[b"VALUE ", value.as_slice()].concat()),
            None => answer(b"NIL"),
        },
        [b"DEL", key] => match keys.remove(*key) {
            Some(_) => answer(b"DELETED"),
            None => answer(b"NIL"),
        },
        [b"SET", ..] => answer(b"ERR usage: SET key value"),
        [b"GET", ..] => answer(b"ERR usage: GET key"),
        [b"DEL", ..] => answer(b"ERR usage: DEL key"),
        _ => answer(b"ERR unknown command"),
    }
}

/// The oracle: every complete line answered in order by [`reply`], keys kept per client.
pub fn model() -> RequestResponse {
    RequestResponse::stateful(BTreeMap::new, reply)
}

/// The same specification as a reference model of the whole run (what `chat` needs, and what
/// a store shared by connections would): fed what the server read, in the order it read it.
/// Registered as `kvstore-model`, it judges the correct service exactly as [`model`] does,
/// except for the idle timeout, whose reply the model does not predict (run it with
/// `idle-ms` 0); `ci/bench.py` compares the two oracles' cost.
#[derive(Debug, Default)]
pub struct KvModel {
    keys: BTreeMap<usize, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl muxsim::service::Model for KvModel {
    fn connected(&mut self, conn: usize, out: &mut muxsim::service::Deliveries) {
        self.keys.insert(conn, BTreeMap::new());
        out.send(conn, super::GREETING);
    }

    fn message(&mut self, conn: usize, payload: &[u8], out: &mut muxsim::service::Deliveries) {
        let keys = self.keys.entry(conn).or_default();
        match reply(keys, payload) {
            Reply::Answer(bytes) => out.send(conn, bytes),
            Reply::Close(bytes) => {
                out.send(conn, bytes);
                out.close(conn);
            }
            _ => {}
        }
    }

    fn peer_closed(&mut self, conn: usize, out: &mut muxsim::service::Deliveries) {
        out.close(conn);
    }

    fn closed(&mut self, conn: usize, _out: &mut muxsim::service::Deliveries) {
        self.keys.remove(&conn);
    }
}
